package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
)

// fakeRaft is a leader that commits audit commands into a list.
type fakeRaft struct {
	Raft
	mu      sync.Mutex
	audits  []store.Audit
	fail    error
	leader  string
	applied uint64
}

func (f *fakeRaft) Status() cluster.Status { return cluster.Status{ID: "n1", LeaderID: f.leader} }

func (f *fakeRaft) Apply(_ context.Context, cmd []byte) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	c, err := store.DecodeCommand(cmd)
	if err != nil || c.Op != store.OpAudit {
		return store.Result{Err: errors.New("not an audit command")}, nil
	}
	f.applied++
	f.audits = append(f.audits, *c.Audit)
	return store.Result{}, nil
}

func (f *fakeRaft) taken() []store.Audit {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.audits
	f.audits = nil
	return out
}

type fakeDays struct{ Days }

var testNow = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func (fakeDays) Now() time.Time { return testNow }

const (
	readTok = "read-token-0123456789"
	opTok   = "operator-token-0123456789"
)

// testServer is a Server with the real route table whose handlers all
// answer 200 (the guards are what is tested), or the ones swap gives.
func testServer(t *testing.T, swap map[string]http.HandlerFunc) (*Server, *fakeRaft, http.Handler) {
	t.Helper()
	raft := &fakeRaft{leader: "n1"}
	s, err := New(Config{NodeID: "n1", Addr: "127.0.0.1:9101", Raft: raft, Days: fakeDays{}, Hosts: []string{"admin.example.net"},
		Tokens:     []Token{{Name: "auditor", Role: RoleRead, Value: readTok}, {Name: "alice", Role: RoleOperator, Value: opTok}},
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	m := &router{}
	for _, rt := range s.routes {
		rt.h = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
		if h := swap[rt.pattern]; h != nil {
			rt.h = h
		}
		m.routes = append(m.routes, rt)
	}
	mux, err := s.build(m)
	if err != nil {
		t.Fatal(err)
	}
	return s, raft, mux
}

// samplePath fills a pattern's wildcards.
func samplePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	r := strings.NewReplacer("{id}", "node2", "{day}", "20261203", "{file}", "acq.csv", "{acquirer}", "acq",
		"{terminal}", "TERM0001", "{number}", "3", "{$}", "")
	return method, r.Replace(path)
}

func do(h http.Handler, method, path, token string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://127.0.0.1:9101"+path, strings.NewReader(`{"id":"node4","raft_addr":"10.0.0.4:7001","day":"20261203","secret":"x"}`))
	req.RemoteAddr = "10.9.9.9:4242"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestRoleMatrix: every registered route, with no token, a wrong one, the
// read-only one and the operator's.
func TestRoleMatrix(t *testing.T) {
	s, raft, h := testServer(t, nil)
	if len(s.routes) < 25 {
		t.Fatalf("%d routes: the table lost some", len(s.routes))
	}
	for _, rt := range s.routes {
		method, path := samplePath(rt.pattern)
		want := map[string]int{"": 401, "wrong": 401, readTok: 200, opTok: 200}
		switch {
		case rt.need == RoleOpen:
			want = map[string]int{"": 200, "wrong": 200, readTok: 200, opTok: 200}
		case rt.need == RoleOperator:
			want[readTok] = 403
		}
		// Every write is an audited operator action.
		if read := method == http.MethodGet; !read && (rt.need != RoleOperator || !rt.writes()) {
			t.Errorf("%s: a write that is not an audited operator action", rt.pattern)
		}
		for _, tok := range []string{"", "wrong", readTok, opTok} {
			w := do(h, method, path, tok, nil)
			if w.Code != want[tok] {
				t.Errorf("%s %s with token %q: %d, want %d (%s)", method, path, tok, w.Code, want[tok], w.Body)
				continue
			}
			if w.Code == 401 || w.Code == 403 {
				var e adminapi.Error
				if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
					t.Errorf("%s %s: refusal body %q is not a JSON error", method, path, w.Body)
				}
				if w.Code == 403 && e.Need != "operator" {
					t.Errorf("%s %s: 403 says need %q, want operator", method, path, e.Need)
				}
			}
			audits := raft.taken()
			switch {
			case rt.action != "" && tok == opTok:
				if len(audits) != 2 || audits[0].Phase != store.AuditStart || audits[1].Phase != store.AuditEnd ||
					audits[0].Record.Actor != "alice" || audits[0].Record.Action != rt.action || audits[1].Record.Status != 200 ||
					audits[1].Record.ID != audits[0].Record.ID {
					t.Errorf("%s by the operator: audit %+v, want a start and an ok end", rt.pattern, audits)
				}
			case rt.action != "" && tok == readTok:
				if len(audits) != 1 || audits[0].Phase != store.AuditWhole || audits[0].Record.Actor != "auditor" || audits[0].Record.Status != 403 {
					t.Errorf("%s by the reader: audit %+v, want one refusal", rt.pattern, audits)
				}
			case len(audits) != 0:
				t.Errorf("%s with token %q: audited %+v", rt.pattern, tok, audits)
			}
		}
	}
	if got := value(s.gate.metrics.refused.WithLabelValues("no_token")); got == 0 {
		t.Error("refusals without a token not counted")
	}
}

// TestAuditRecordFields: what a write's records say, the body's listed
// parameters included and nothing else of the body.
func TestAuditRecordFields(t *testing.T) {
	_, raft, h := testServer(t, map[string]http.HandlerFunc{
		"POST /members": func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusConflict, adminapi.Error{Error: "node4 is busy"})
		},
	})
	if w := do(h, "POST", "/members", opTok, nil); w.Code != http.StatusConflict {
		t.Fatalf("POST /members: %d", w.Code)
	}
	a := raft.taken()
	if len(a) != 2 {
		t.Fatalf("%d audit commands", len(a))
	}
	start, end := a[0], a[1]
	want := store.AuditRecord{ID: start.Record.ID, At: testNow.UnixNano(), Actor: "alice", Role: "operator", Action: "member.add",
		Params: []store.AuditParam{{Name: "id", Value: "node4"}, {Name: "raft_addr", Value: "10.0.0.4:7001"}}, Source: "10.9.9.9:4242", Node: "n1"}
	if start.Keep != DefaultAuditKeep || !strings.HasPrefix(start.Record.ID, "n1-") || !equalRecord(start.Record, want) {
		t.Fatalf("start %+v\nwant %+v", start, want)
	}
	if end.Record.ID != want.ID || end.Record.Status != 409 || end.Record.Error != "node4 is busy" || end.Record.EndedAt != testNow.UnixNano() {
		t.Fatalf("end %+v", end.Record)
	}
	// Path wildcards are parameters too.
	do(h, "POST", "/batches/TERM0001/3/close", opTok, nil)
	if a := raft.taken(); len(a) != 2 || len(a[0].Record.Params) != 2 || a[0].Record.Params[0] != (store.AuditParam{Name: "terminal", Value: "TERM0001"}) ||
		a[0].Record.Params[1] != (store.AuditParam{Name: "number", Value: "3"}) {
		t.Fatalf("batch close params: %+v", a)
	}
}

func equalRecord(a, b store.AuditRecord) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestNoAuditNoAction: a write whose start record cannot be committed is
// not performed; on a follower, a leader-only write is sent to the leader
// with no record.
func TestNoAuditNoAction(t *testing.T) {
	ran := false
	s, raft, h := testServer(t, map[string]http.HandlerFunc{
		"POST /days/cutover": func(w http.ResponseWriter, _ *http.Request) { ran = true },
	})
	raft.fail = errors.New("cluster: apply: outcome unknown: no quorum")
	w := do(h, "POST", "/days/cutover", opTok, nil)
	if ran || w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "not performed") {
		t.Fatalf("cutover without an audit log: ran %v, %d %s", ran, w.Code, w.Body)
	}
	if got := value(s.audit.metrics.auditFailures.WithLabelValues("start")); got != 1 {
		t.Fatalf("start failures counted %v", got)
	}
	raft.fail, raft.leader = cluster.ErrNotLeader, "n2"
	w = do(h, "POST", "/days/cutover", opTok, nil)
	var e adminapi.Error
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	if ran || w.Code != http.StatusMisdirectedRequest || e.LeaderID != "n2" {
		t.Fatalf("cutover on a follower: ran %v, %d %s", ran, w.Code, w.Body)
	}
}

// TestCSRFAndRebinding: browsers' cross-site writes and foreign Hosts are
// refused; tillctl's requests (no Origin) and same-origin ones are not.
func TestCSRFAndRebinding(t *testing.T) {
	_, raft, h := testServer(t, nil)
	tests := []struct {
		name         string
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"tillctl write", "POST", "/snapshot", nil, 200},
		{"same-origin write", "POST", "/snapshot", map[string]string{"Origin": "http://127.0.0.1:9101", "Sec-Fetch-Site": "same-origin"}, 200},
		{"foreign origin write", "POST", "/snapshot", map[string]string{"Origin": "http://evil.example"}, 403},
		{"other port origin", "POST", "/snapshot", map[string]string{"Origin": "http://127.0.0.1:8080"}, 403},
		{"https origin on http", "POST", "/snapshot", map[string]string{"Origin": "https://127.0.0.1:9101"}, 403},
		{"null origin", "DELETE", "/members/node2", map[string]string{"Origin": "null"}, 403},
		{"cross-site fetch", "POST", "/days/cutover", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site fetch", "POST", "/days/cutover", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign origin backup", "GET", "/backup", map[string]string{"Origin": "http://evil.example"}, 403},
		{"foreign origin read", "GET", "/status", map[string]string{"Origin": "http://evil.example"}, 200},
		{"rebound host write", "POST", "/snapshot", map[string]string{"Host": "evil.example:9101"}, 403},
		{"rebound host read", "GET", "/txns", map[string]string{"Host": "evil.example:9101"}, 403},
		{"rebound host same origin", "POST", "/snapshot", map[string]string{"Host": "evil.example:9101", "Origin": "http://evil.example:9101"}, 403},
		{"configured name", "POST", "/snapshot", map[string]string{"Host": "ADMIN.example.net:9101", "Origin": "http://admin.example.net:9101"}, 200},
		{"localhost", "POST", "/snapshot", map[string]string{"Host": "localhost:9101"}, 200},
		{"ipv6 literal", "GET", "/status", map[string]string{"Host": "[::1]:9101"}, 200},
		{"other ip", "GET", "/status", map[string]string{"Host": "10.0.1.11:9101"}, 200},
		{"empty host", "GET", "/status", map[string]string{"Host": ""}, 403},
		{"open path any host", "GET", "/metrics", map[string]string{"Host": "evil.example"}, 200},
	}
	for _, tc := range tests {
		w := do(h, tc.method, tc.path, opTok, tc.hdr)
		if w.Code != tc.want {
			t.Errorf("%s: %d, want %d (%s)", tc.name, w.Code, tc.want, w.Body)
		}
		audits := raft.taken()
		if tc.want == 403 && len(audits) != 0 {
			t.Errorf("%s: refused before auth yet audited: %+v", tc.name, audits)
		}
	}
}

// TestReconcileBound: at most MaxReconciles reconciliations run; the next
// gets 429 with Retry-After at once, and a slot freed is taken again.
func TestReconcileBound(t *testing.T) {
	inside, release := make(chan struct{}), make(chan struct{})
	_, _, h := testServer(t, map[string]http.HandlerFunc{
		"POST /days/{day}/reconcile/{acquirer}": func(w http.ResponseWriter, _ *http.Request) {
			inside <- struct{}{}
			<-release
		},
	})
	path := "/days/20261203/reconcile/acq"
	done := make(chan int, 2)
	for range 2 {
		go func() { done <- do(h, "POST", path, opTok, nil).Code }()
		<-inside
	}
	w := do(h, "POST", path, opTok, nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "2 of these run already") {
		t.Fatalf("third reconciliation: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	release <- struct{}{}
	if code := <-done; code != 200 {
		t.Fatalf("first reconciliation: %d", code)
	}
	go func() { done <- do(h, "POST", path, opTok, nil).Code }()
	<-inside
	close(release)
	for range 2 {
		if code := <-done; code != 200 {
			t.Fatalf("reconciliation: %d", code)
		}
	}
}

// TestRouterAuditsEveryWrite: a write registered the plain way is audited
// and needs the operator; one that slips past the router is refused at
// build.
func TestRouterAuditsEveryWrite(t *testing.T) {
	m := &router{}
	m.HandleFunc("POST /terminals/{id}/block", func(http.ResponseWriter, *http.Request) {})
	if rt := m.routes[0]; rt.need != RoleOperator || rt.action != "POST /terminals/{id}/block" {
		t.Fatalf("a write by HandleFunc: %+v", rt)
	}
	s := &Server{}
	for _, bad := range []route{
		{pattern: "POST /keys/rotate", need: RoleRead},
		{pattern: "PUT /x", need: RoleOperator},
		{pattern: "POST /y", need: RoleRead, action: "y"},
	} {
		if _, err := s.build(&router{routes: []route{bad}}); err == nil {
			t.Errorf("route %+v built", bad)
		}
	}
}

func TestTokensRefused(t *testing.T) {
	for _, list := range [][]Token{
		{{Name: "a", Role: RoleRead, Value: "same"}, {Name: "b", Role: RoleOperator, Value: "same"}},
		{{Name: "a", Role: RoleRead, Value: "x"}, {Name: "a", Role: RoleOperator, Value: "y"}},
		{{Name: "", Role: RoleRead, Value: "x"}},
		{{Name: "a", Role: RoleOpen, Value: "x"}},
		{{Name: "a", Role: RoleRead}},
	} {
		if _, err := newTokens(list); err == nil {
			t.Errorf("tokens %+v accepted", list)
		}
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
