package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tillgate/tillgate/node/adminapi"
)

// Role is what a token may do.
type Role uint8

// Roles, each allowed what the ones before it are.
const (
	RoleOpen     Role = iota // no token: probes, /metrics, the status page
	RoleRead                 // every read: status, transactions, reports, days, the audit log
	RoleOperator             // everything: membership, cutover, batches, reconciliation, snapshot, backup
)

func (r Role) String() string {
	switch r {
	case RoleOpen:
		return "open"
	case RoleRead:
		return "read-only"
	case RoleOperator:
		return "operator"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// ParseRole reads a role as the config spells it.
func ParseRole(s string) (Role, error) {
	switch s {
	case "read-only":
		return RoleRead, nil
	case "operator":
		return RoleOperator, nil
	}
	return 0, fmt.Errorf("role %q: want read-only or operator", s)
}

// Token is one named bearer token. The name is who the audit log says
// acted; the value is the secret.
type Token struct {
	Name  string
	Role  Role
	Value string
}

// gate decides who may in: tokens, Host and Origin (guard.go).
type gate struct {
	tokens  *tokens
	hosts   []string
	metrics *metrics
	log     *slog.Logger
}

// anonymous is the actor of a request to an API without tokens (allowed on
// loopback only).
const anonymous = "anonymous"

// principal is who sent a request: the token's name and role.
type principal struct {
	name string
	role Role
}

// tokens checks bearer tokens in constant time: every configured token is
// compared, through SHA-256 digests so that lengths leak nothing either.
type tokens struct {
	list   []Token
	hashes [][sha256.Size]byte
}

func newTokens(list []Token) (*tokens, error) {
	t := &tokens{list: list}
	names, values := map[string]bool{}, map[string]bool{}
	for _, tok := range list {
		switch {
		case tok.Name == "" || len(tok.Name) > 64:
			return nil, fmt.Errorf("admin token name %q: want 1-64 characters", tok.Name)
		case names[tok.Name]:
			return nil, fmt.Errorf("admin token name %q used twice", tok.Name)
		case tok.Value == "":
			return nil, fmt.Errorf("admin token %q is empty", tok.Name)
		case values[tok.Value]:
			return nil, fmt.Errorf("admin token %q has the value of another token: each name needs its own, or the audit log cannot tell who acted", tok.Name)
		case tok.Role != RoleRead && tok.Role != RoleOperator:
			return nil, fmt.Errorf("admin token %q: role %v: want read-only or operator", tok.Name, tok.Role)
		}
		names[tok.Name], values[tok.Value] = true, true
		t.hashes = append(t.hashes, sha256.Sum256([]byte(tok.Value)))
	}
	return t, nil
}

// open reports whether the API runs without tokens.
func (t *tokens) open() bool { return len(t.list) == 0 }

// match returns the token whose value is got, comparing with all of them.
func (t *tokens) match(got string) (principal, bool) {
	h := sha256.Sum256([]byte(got))
	found := -1
	for i := range t.hashes {
		if subtle.ConstantTimeCompare(h[:], t.hashes[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return principal{}, false
	}
	return principal{name: t.list[found].Name, role: t.list[found].Role}, true
}

// authenticate answers 401 (and returns false) unless the request carries
// a known token; without tokens everyone is the anonymous operator.
func (g *gate) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	if g.tokens.open() {
		return principal{name: anonymous, role: RoleOperator}, true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		g.refuse(w, r, http.StatusUnauthorized, "no_token", adminapi.Error{Error: "no bearer token",
			Hint: "send an admin token (tillctl --token or TILLCTL_TOKEN); the node reads its tokens from admin_tokens or admin_token_file"})
		return principal{}, false
	}
	p, ok := g.tokens.match(got)
	if !ok {
		g.refuse(w, r, http.StatusUnauthorized, "wrong_token", adminapi.Error{Error: "wrong bearer token",
			Hint: "use one of the tokens in this node's admin_tokens (or admin_token_file)"})
		return principal{}, false
	}
	return p, true
}

// refuse answers a request refused before it ran, counting and logging it.
func (g *gate) refuse(w http.ResponseWriter, r *http.Request, code int, reason string, e adminapi.Error) {
	g.metrics.refused.WithLabelValues(reason).Inc()
	g.log.Warn("admin request refused", "reason", reason, "method", r.Method, "path", r.URL.Path, "source", r.RemoteAddr, "status", code)
	if code == http.StatusUnauthorized {
		v := `Bearer realm="tillgate"`
		if reason == "wrong_token" {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	writeJSON(w, code, e)
}
