package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tillgate/tillgate/node/adminapi"
)

// Every endpoint is registered through a router, which decides what guards
// it: a GET is a read (any token); anything else is an operator's write,
// audited, whoever registers it and however (HandleFunc included), so an
// endpoint added later is covered without anyone remembering to. A read
// that is an operator action (GET /backup) is registered with write.
// build refuses a table in which a write escaped the audit.

// route is one endpoint and what guards it.
type route struct {
	pattern string // "POST /members"
	need    Role
	// action names the endpoint in the audit log; "" for a read, which is
	// not audited.
	action string
	// anyNode: the action may run on a standby (its audit records go to
	// the leader); otherwise a standby answers 421 naming the leader.
	anyNode bool
	// bodyParams are the fields of the JSON body recorded in the audit log:
	// a list, so that nothing else in a body (a secret) ever is.
	bodyParams []string
	// limit bounds the requests running at once (nil: no bound).
	limit slots
	// auditWrite: the endpoint that writes audit records forwarded by a
	// standby; it is the audit itself.
	auditWrite bool
	h          http.HandlerFunc
}

func (rt *route) method() string {
	m, _, _ := strings.Cut(rt.pattern, " ")
	return m
}

// writes reports whether the route changes anything (or is an operator
// action): those are checked against cross-origin requests.
func (rt *route) writes() bool { return rt.action != "" || rt.auditWrite }

// router collects the routes.
type router struct{ routes []route }

// HandleFunc registers h by its method: GET a read, anything else an
// audited operator write named by its pattern ("POST /terminals"), run on
// the leader only.
func (m *router) HandleFunc(pattern string, h http.HandlerFunc) {
	rt := route{pattern: pattern, need: RoleRead, h: h}
	if method := rt.method(); method != http.MethodGet && method != http.MethodHead {
		rt.need, rt.action = RoleOperator, pattern
	}
	m.routes = append(m.routes, rt)
}

// open registers an endpoint that needs no token.
func (m *router) open(pattern string, h http.HandlerFunc) {
	m.routes = append(m.routes, route{pattern: pattern, need: RoleOpen, h: h})
}

// writeOpt adjusts a write's route.
type writeOpt func(*route)

func anyNode() writeOpt { return func(rt *route) { rt.anyNode = true } }

func bodyParams(names ...string) writeOpt { return func(rt *route) { rt.bodyParams = names } }

func limited(s slots) writeOpt { return func(rt *route) { rt.limit = s } }

// write registers an audited operator action named action.
func (m *router) write(pattern, action string, h http.HandlerFunc, opts ...writeOpt) {
	rt := route{pattern: pattern, need: RoleOperator, action: action, h: h}
	for _, o := range opts {
		o(&rt)
	}
	m.routes = append(m.routes, rt)
}

// build checks the table and makes the mux: every route that is not a GET
// must be an audited operator write.
func (s *Server) build(m *router) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	for _, rt := range m.routes {
		method := rt.method()
		read := method == http.MethodGet || method == http.MethodHead
		switch {
		case !read && !rt.writes():
			return nil, fmt.Errorf("admin: route %q changes state but is not audited: register it with write", rt.pattern)
		case rt.writes() && rt.need != RoleOperator:
			return nil, fmt.Errorf("admin: route %q is audited but does not need the operator role", rt.pattern)
		}
		mux.HandleFunc(rt.pattern, s.guard(rt))
	}
	return mux, nil
}

// guard is every route's way in: Host, token, Origin (writes), role, the
// bound on concurrent requests, and the audit.
func (s *Server) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rt.need == RoleOpen {
			rt.h(w, r)
			return
		}
		if !s.gate.checkHost(w, r) {
			return
		}
		p, ok := s.gate.authenticate(w, r)
		if !ok || (rt.writes() && !s.gate.checkOrigin(w, r)) {
			return
		}
		if p.role < rt.need {
			e := adminapi.Error{Error: fmt.Sprintf("%s needs the %v role; token %q is %v", rt.pattern, rt.need, p.name, p.role),
				Need: rt.need.String(), Hint: "use an operator token for writes"}
			s.gate.refuse(w, r, http.StatusForbidden, "role", e)
			if rt.action != "" {
				s.audit.refusal(r, rt, p, e.Error)
			}
			return
		}
		r = r.WithContext(withPrincipal(r.Context(), p))
		if rt.action == "" {
			rt.h(w, r)
			return
		}
		if rt.limit != nil {
			if !rt.limit.take() {
				w.Header().Set("Retry-After", "30")
				s.gate.refuse(w, r, http.StatusTooManyRequests, "busy", adminapi.Error{
					Error: fmt.Sprintf("%d of these run already: %s is heavy and bounded", cap(rt.limit), rt.action),
					Hint:  "retry after the ones running finish (Retry-After), or reconcile on another node"})
				return
			}
			defer rt.limit.give()
		}
		s.audit.audited(w, r, rt, p)
	}
}

// maxParamBody bounds the JSON body read for bodyParams.
const maxParamBody = 1 << 16

// params are the key parameters of a write: its path's wildcards, then
// rt.bodyParams from a JSON body (which is given back to the handler).
func params(rt route, r *http.Request) []paramKV {
	var out []paramKV
	for _, seg := range strings.Split(rt.pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(strings.TrimSuffix(name, "}"), "...")
			out = append(out, paramKV{name, r.PathValue(name)})
		}
	}
	if len(rt.bodyParams) == 0 || r.Body == nil {
		return out
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxParamBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	var fields map[string]json.RawMessage
	if err != nil || json.Unmarshal(body, &fields) != nil {
		return out // the handler answers the bad body
	}
	for _, name := range rt.bodyParams {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		out = append(out, paramKV{name, s})
	}
	return out
}

type paramKV struct{ name, value string }

// recorder passes an answer through and keeps its status and, for an
// error, the start of its body (the JSON error the audit log records).
type recorder struct {
	http.ResponseWriter
	status int
	errBuf bytes.Buffer
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if rw.status >= 300 && rw.errBuf.Len() < 4096 {
		rw.errBuf.Write(b[:min(len(b), 4096-rw.errBuf.Len())])
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes).
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// errorText is what the audit log says went wrong: the JSON error's text,
// or the body as it was.
func (rw *recorder) errorText() string {
	if rw.status < 300 {
		return ""
	}
	var e adminapi.Error
	if json.Unmarshal(rw.errBuf.Bytes(), &e) == nil && e.Error != "" {
		return e.Error
	}
	if s := strings.TrimSpace(rw.errBuf.String()); s != "" {
		return s
	}
	return http.StatusText(rw.status)
}
