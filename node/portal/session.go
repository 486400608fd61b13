package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A session is a cookie the cluster can check on any node without a
// session table: the merchant, the key it logged in with, an expiry and a
// nonce, MACed with the card vault's hash key (the one secret every node
// shares). Removing the key from the merchant ends its sessions.

const (
	cookieName = "tillgate_portal"
	sessionTTL = 8 * time.Hour
)

// session is a logged-in merchant.
type session struct {
	merchant, key string
	expires       time.Time
	raw           string // the cookie's value: what the CSRF token is bound to
}

func (p *Portal) mac(kind, payload string) string {
	return hex.EncodeToString(p.cfg.Keyer.Hash("tillgate-portal-" + kind + "\x00" + payload))
}

// newSession is the cookie value of a session of merchant's key.
func (p *Portal) newSession(merchant, key string) string {
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	payload := strings.Join([]string{merchant, key, strconv.FormatInt(p.cfg.Clock().Add(sessionTTL).Unix(), 10), hex.EncodeToString(nonce)}, "\n")
	enc := base64.RawURLEncoding.EncodeToString([]byte(payload))
	return enc + "." + p.mac("session", enc)
}

// session reads r's session cookie; nil if it has none that holds.
func (p *Portal) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(p.mac("session", enc))) {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, nil
	}
	parts := strings.Split(string(b), "\n")
	if len(parts) != 4 {
		return nil, nil
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || p.cfg.Clock().Unix() >= exp {
		return nil, nil
	}
	return &session{merchant: parts[0], key: parts[1], expires: time.Unix(exp, 0), raw: c.Value}, nil
}

// csrf is the token a session's forms carry.
func (p *Portal) csrf(s *session) string { return p.mac("csrf", s.raw)[:32] }

// checkCSRF refuses a form whose token is not the session's.
func (p *Portal) checkCSRF(r *http.Request, s *session) error {
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(p.csrf(s))) {
		return fmt.Errorf("the form's CSRF token does not match this session: reload the page and try again")
	}
	return nil
}

// setCookie sets (value "" clears) the session cookie: HttpOnly,
// SameSite=Strict, Secure when the portal is served over HTTPS.
func (p *Portal) setCookie(w http.ResponseWriter, value string) {
	c := &http.Cookie{Name: cookieName, Value: value, Path: "/portal/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.cfg.Secure}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(sessionTTL / time.Second)
	}
	http.SetCookie(w, c)
}

// sameOrigin refuses a POST that a browser says came from another site
// (Origin, else Referer); a request without either (a non-browser
// client) passes: the CSRF token and SameSite guard the rest.
func sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" || from == "null" {
		from = r.Header.Get("Referer")
	}
	if from == "" {
		return true
	}
	_, rest, ok := strings.Cut(from, "://")
	if !ok {
		return false
	}
	host, _, _ := strings.Cut(rest, "/")
	return host == r.Host
}
