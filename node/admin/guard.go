package admin

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/tillgate/tillgate/node/adminapi"
)

// Browsers are the threat here, not tillctl: a page an operator visits
// can make the browser send requests to the admin API (CSRF), and a page
// whose DNS name rebinds to the node's address can even read the answers
// (DNS rebinding). A rebinding page sends its own name as Host, so the API
// answers only Hosts that are an IP literal, localhost, or a name the
// config lists (admin_hosts). A cross-site request carries an Origin (or a
// Sec-Fetch-Site) naming another site, so writes refuse any Origin that is
// not the API itself. tillctl sends neither header and is not affected.

// hostAllowed reports whether the Host header names this API: an IP
// literal (no name to rebind), localhost, or one of the configured names.
func (g *gate) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, h := range g.hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// checkHost refuses (403) a request whose Host is not this API's.
func (g *gate) checkHost(w http.ResponseWriter, r *http.Request) bool {
	if g.hostAllowed(r.Host) {
		return true
	}
	g.refuse(w, r, http.StatusForbidden, "host", adminapi.Error{Error: "host " + r.Host + " is not this admin API's",
		Hint: "use the node's IP address or localhost, or add the name to the node's admin_hosts (a foreign Host is how DNS rebinding reaches the API)"})
	return false
}

// checkOrigin refuses (403) a write sent by a browser on behalf of another
// site: an Origin other than the API's own, or a Sec-Fetch-Site other than
// same-origin or none (typed by the user).
func (g *gate) checkOrigin(w http.ResponseWriter, r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	origin := r.Header.Get("Origin")
	ok := site == "" || site == "same-origin" || site == "none"
	if ok && origin != "" {
		ok = sameOrigin(origin, r)
	}
	if ok {
		return true
	}
	g.refuse(w, r, http.StatusForbidden, "origin", adminapi.Error{Error: "cross-origin write refused (Origin " + origin + ", Sec-Fetch-Site " + site + ")",
		Hint: "writes come from tillctl or the adminapi client, not from a browser page of another site"})
	return false
}

// sameOrigin reports whether origin is the scheme, host and port r was
// sent to.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null", or not an origin
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(withPort(u.Host, scheme), withPort(r.Host, scheme))
}

func withPort(hostport, scheme string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	if scheme == "https" {
		return net.JoinHostPort(strings.Trim(hostport, "[]"), "443")
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), "80")
}

// slots bounds how many of an expensive kind of request run at once; the
// rest are answered 429 at once rather than queued.
type slots chan struct{}

func (c slots) take() bool {
	select {
	case c <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c slots) give() { <-c }
