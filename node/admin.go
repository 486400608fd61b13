package node

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
)

// adminOpTimeout bounds the membership changes and snapshots an admin
// request starts.
const adminOpTimeout = 30 * time.Second

func (n *Node) startAdmin() (*http.Server, error) {
	token, err := n.cfg.adminToken()
	if err != nil {
		return nil, err
	}
	if token == "" {
		n.log.Warn("admin API has no token: anyone who can reach it can change membership and read transactions; set admin_token_file", "admin", n.cfg.AdminAddr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", n.readyz)
	mux.HandleFunc("GET /status", n.status)
	mux.HandleFunc("GET /leaders", n.leadersSeen)
	mux.HandleFunc("GET /totals", n.totals)
	mux.HandleFunc("GET /hash", n.hash)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /members", n.members)
	mux.HandleFunc("POST /members", n.addMember)
	mux.HandleFunc("DELETE /members/{id}", n.removeMember)
	mux.HandleFunc("POST /leader/transfer", n.transferLeader)
	mux.HandleFunc("POST /snapshot", n.snapshot)
	mux.HandleFunc("GET /backup", n.backup)
	mux.HandleFunc("GET /txns", n.txns)
	mux.HandleFunc("GET /txns/{id}", n.txn)
	mux.HandleFunc("GET /reports", n.report)
	n.dayRoutes(mux)
	n.statusPageRoutes(mux)
	// Profiles, behind the token like the rest: an operator chasing CPU or
	// memory on a live node needs them without a restart.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", n.cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	srv := &http.Server{Handler: requireToken(token, mux), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.fail(fmt.Errorf("admin listener: %w", err))
		}
	}()
	return srv, nil
}

// adminToken is AdminToken, or the content of AdminTokenFile.
func (c *Config) adminToken() (string, error) {
	if c.AdminTokenFile == "" {
		return c.AdminToken, nil
	}
	b, err := os.ReadFile(c.AdminTokenFile)
	if err != nil {
		return "", fmt.Errorf("admin_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin_token_file %s is empty: put the token in it, or remove the setting to run without one", c.AdminTokenFile)
	}
	return tok, nil
}

// openPaths need no token: probes, Prometheus and the status page (which
// polls /status.json).
var openPaths = map[string]bool{"/livez": true, "/readyz": true, "/metrics": true, "/": true, "/status.json": true}

// requireToken answers 401 to requests without "Authorization: Bearer
// token", except on openPaths. An empty token lets everything through.
func requireToken(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" || openPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="tillgate"`)
			writeJSON(w, http.StatusUnauthorized, adminapi.Error{Error: "no bearer token", Hint: "send the node's admin token: tillctl --token or TILLCTL_TOKEN; the node reads it from admin_token_file"})
		case subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1:
			w.Header().Set("WWW-Authenticate", `Bearer realm="tillgate", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, adminapi.Error{Error: "wrong bearer token", Hint: "use the token in this node's admin_token_file"})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// readyz is 200 when this node can take register traffic usefully: it is the
// serving active, or it knows who is.
func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	v := n.views.Current()
	if (v.Leader && v.Serving) || (!v.Leader && v.LeaderID != "") {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: "no active known yet", Hint: "the cluster is electing or this node cannot reach a quorum"})
}

func (n *Node) status(w http.ResponseWriter, _ *http.Request) {
	v := n.views.Current()
	cs := n.raft.Status()
	st := adminapi.Status{
		ID:                n.cfg.ID,
		Role:              cs.Role,
		Serving:           v.Leader && v.Serving,
		Term:              cs.Term,
		LeaderID:          cs.LeaderID,
		LeaderAddr:        cs.LeaderAddr,
		ActiveAddr:        v.ActiveAddr,
		AppliedIndex:      n.store.AppliedIndex(),
		CommitIndex:       cs.CommitIndex,
		LastIndex:         cs.LastIndex,
		LastSnapshotIndex: cs.LastSnapshotIndex,
		Connections:       n.regs.count.Load(),
		Peers:             members(cs),
	}
	if !cs.LastContact.IsZero() {
		lc := cs.LastContact.UTC()
		st.LastContact = &lc
	}
	st.SAF = n.safQueues()
	writeJSON(w, http.StatusOK, st)
}

func members(cs cluster.Status) []adminapi.Member {
	out := make([]adminapi.Member, 0, len(cs.Peers))
	for _, p := range cs.Peers {
		out = append(out, adminapi.Member{ID: p.ID, RaftAddr: p.Addr, Suffrage: p.Suffrage, Leader: p.Leader, Self: p.Self})
	}
	return out
}

func (n *Node) totals(w http.ResponseWriter, _ *http.Request) {
	idx := n.store.AppliedIndex()
	t, err := n.store.Totals()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Totals{AppliedIndex: idx, Net: map[string]adminapi.Sum{}}
	for k, s := range t.Net {
		out.Net[k] = adminapi.Sum{Count: s.Count, Amount: s.Amount}
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) hash(w http.ResponseWriter, _ *http.Request) {
	// The index read before and after must agree, or the hash may belong to
	// either side of an apply.
	for range 10 {
		idx := n.store.AppliedIndex()
		h, err := n.store.Hash()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
			return
		}
		if n.store.AppliedIndex() == idx {
			writeJSON(w, http.StatusOK, adminapi.Hash{AppliedIndex: idx, SHA256: hex.EncodeToString(h)})
			return
		}
	}
	writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: "state changing too fast for a stable hash", Hint: "retry when the load stops"})
}

// --- membership

func (n *Node) members(w http.ResponseWriter, _ *http.Request) {
	cs := n.raft.Status()
	writeJSON(w, http.StatusOK, adminapi.Members{LeaderID: cs.LeaderID, Members: members(cs)})
}

func (n *Node) addMember(w http.ResponseWriter, r *http.Request) {
	var req adminapi.AddMember
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		badParam(w, "body", fmt.Sprintf("want JSON {\"id\": ..., \"raft_addr\": ...}: %v", err))
		return
	}
	if req.ID == "" {
		badParam(w, "id", "the new node's id is empty")
		return
	}
	if _, _, err := net.SplitHostPort(req.RaftAddr); err != nil {
		badParam(w, "raft_addr", fmt.Sprintf("%q: want the new node's Raft host:port", req.RaftAddr))
		return
	}
	n.membershipChange(w, r, func(ctx context.Context) error { return n.raft.AddVoter(ctx, req.ID, req.RaftAddr) })
}

func (n *Node) removeMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	known := false
	for _, p := range n.raft.Status().Peers {
		known = known || p.ID == id
	}
	if !known {
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: fmt.Sprintf("no member %q", id), Param: "id", Hint: "list the members with GET /members (tillctl members list)"})
		return
	}
	n.membershipChange(w, r, func(ctx context.Context) error { return n.raft.RemoveServer(ctx, id) })
}

func (n *Node) membershipChange(w http.ResponseWriter, r *http.Request, change func(context.Context) error) {
	ctx, cancel := context.WithTimeout(r.Context(), adminOpTimeout)
	defer cancel()
	if err := change(ctx); err != nil {
		n.writeRaftError(w, err)
		return
	}
	n.members(w, r)
}

func (n *Node) transferLeader(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), adminOpTimeout)
	defer cancel()
	if err := n.raft.TransferLeadership(ctx); err != nil {
		n.writeRaftError(w, err)
		return
	}
	cs := n.raft.Status()
	leader := cs.LeaderID
	if leader == n.cfg.ID {
		leader = ""
	}
	writeJSON(w, http.StatusOK, adminapi.Transfer{From: n.cfg.ID, LeaderID: leader})
}

// writeRaftError answers a failed Raft operation: 421 naming the leader
// when this node is not it.
func (n *Node) writeRaftError(w http.ResponseWriter, err error) {
	if errors.Is(err, cluster.ErrNotLeader) {
		cs := n.raft.Status()
		e := adminapi.Error{Error: fmt.Sprintf("%s is not the leader", n.cfg.ID), LeaderID: cs.LeaderID}
		if cs.LeaderID == "" {
			e.Hint = "no leader is known: the cluster is electing or has no quorum; retry shortly"
		} else {
			e.Hint = fmt.Sprintf("send it to the leader %s (raft address %s); tillctl does so when that node's admin address is among its endpoints", cs.LeaderID, cs.LeaderAddr)
		}
		writeJSON(w, http.StatusMisdirectedRequest, e)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: err.Error(), Hint: "check the cluster with `tillctl status`; the change may or may not have been made"})
}

// --- snapshot and backup

func (n *Node) snapshot(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), adminOpTimeout)
	defer cancel()
	before := n.raft.Status().LastSnapshotIndex
	err := n.raft.Snapshot(ctx)
	if err != nil && !errors.Is(err, cluster.ErrNothingToSnapshot) {
		writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: err.Error(), Hint: "see the node's log; disk space in data_dir/raft is the usual cause"})
		return
	}
	after := n.raft.Status().LastSnapshotIndex
	writeJSON(w, http.StatusOK, adminapi.Snapshot{ID: n.cfg.ID, Index: after, Fresh: after > before})
}

// backup streams the state as of the request: a bbolt file with the applied
// index inside. A stream that breaks midway is cut off (no final chunk), so
// the client sees an error rather than a short file.
func (n *Node) backup(w http.ResponseWriter, _ *http.Request) {
	rc, err := n.store.Snapshot()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, adminapi.Error{Error: err.Error(), Hint: "back up from another node"})
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "tillgate-"+n.cfg.ID+".db"))
	h.Set("X-Tillgate-Node", n.cfg.ID)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		n.log.Warn("backup stream broken", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// --- transactions and reports

func (n *Node) txns(w http.ResponseWriter, r *http.Request) {
	q, perr := parseTxnQuery(r.URL.Query())
	if perr != nil {
		writeJSON(w, http.StatusBadRequest, *perr)
		return
	}
	list, next, err := n.store.List(q)
	if errors.Is(err, store.ErrBadCursor) {
		badParam(w, "cursor", "not a next_cursor of this same search: repeat the search's other parameters unchanged")
		return
	}
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.TxnPage{Txns: make([]adminapi.Txn, 0, len(list)), NextCursor: next}
	for _, t := range list {
		out.Txns = append(out.Txns, apiTxn(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) txn(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	t, ok, err := n.store.Get(id)
	switch {
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
	case !ok:
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: fmt.Sprintf("no transaction %q", id), Param: "id",
			Hint: "an id is terminal (8) + STAN (6) + DE7 (10); search with GET /txns (tillctl tx search)"})
	default:
		writeJSON(w, http.StatusOK, apiTxn(t))
	}
}

func (n *Node) report(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if perr := onlyParams(v, "by", "day", "type"); perr != nil {
		writeJSON(w, http.StatusBadRequest, *perr)
		return
	}
	q := store.ReportQuery{By: v.Get("by"), Day: v.Get("day"), Type: v.Get("type")}
	if !slices.Contains(store.ReportBys, q.By) {
		badParam(w, "by", fmt.Sprintf("%q: want one of %s", q.By, strings.Join(store.ReportBys, ", ")))
		return
	}
	if perr := checkDay(q.Day); perr != nil {
		writeJSON(w, http.StatusBadRequest, *perr)
		return
	}
	if q.Type != "" && !slices.Contains(txnTypes(), q.Type) {
		badParam(w, "type", fmt.Sprintf("%q: want one of %s", q.Type, strings.Join(txnTypes(), ", ")))
		return
	}
	rows, err := n.store.Report(q)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, adminapi.Error{Error: err.Error()})
		return
	}
	out := adminapi.Report{By: q.By, Day: q.Day, Type: q.Type, Rows: make([]adminapi.ReportRow, 0, len(rows))}
	for _, r := range rows {
		out.Rows = append(out.Rows, adminapi.ReportRow{Key: r.Key, Total: apiSum(r.Total),
			Approved: apiSum(r.Approved), Declined: apiSum(r.Declined), Reversed: apiSum(r.Reversed)})
	}
	writeJSON(w, http.StatusOK, out)
}

func apiSum(s store.Sum) adminapi.Sum { return adminapi.Sum{Count: s.Count, Amount: s.Amount} }

// apiTxn is t for the operator: the card only masked, never PANEnc or PANHash.
func apiTxn(t *store.Txn) adminapi.Txn {
	return adminapi.Txn{
		ID: t.ID, Type: t.Type.String(), MTI: t.MTI, ProcCode: t.ProcCode, Amount: t.Amount, Currency: t.Currency,
		Terminal: t.TerminalID, Merchant: t.MerchantID, STAN: t.STAN, TransmissionTime: t.TransmissionTime,
		PAN: t.BIN + "******" + t.Last4, BIN: t.BIN, Last4: t.Last4,
		Acquirer: t.Acquirer, AcqSTAN: t.AcqSTAN, RRN: t.RRN, OriginalID: t.OriginalID,
		Status: t.Status.String(), RC: t.RC, AuthCode: t.AuthCode, StandIn: t.StandIn, Day: t.Day,
		Batch: t.Batch, AcqTime: t.AcqTime, Repeat: t.Repeat,
		CreatedAt: time.Unix(0, t.CreatedAt).UTC(), UpdatedAt: time.Unix(0, t.UpdatedAt).UTC(),
	}
}

// txnQueryParams are the parameters of GET /txns.
var txnQueryParams = []string{"terminal", "merchant", "day", "status", "rc", "rrn", "auth_code", "bin", "last4",
	"acquirer", "min_amount", "max_amount", "from", "to", "limit", "cursor"}

// parseTxnQuery reads the parameters of GET /txns, naming the first bad one.
func parseTxnQuery(v url.Values) (store.Query, *adminapi.Error) {
	if perr := onlyParams(v, txnQueryParams...); perr != nil {
		return store.Query{}, perr
	}
	q := store.Query{
		Terminal: v.Get("terminal"), Merchant: v.Get("merchant"), Day: v.Get("day"), RRN: v.Get("rrn"),
		RC: v.Get("rc"), AuthCode: v.Get("auth_code"), BIN: v.Get("bin"), Last4: v.Get("last4"),
		Acquirer: v.Get("acquirer"), Cursor: v.Get("cursor"),
	}
	checks := []func() *adminapi.Error{
		func() *adminapi.Error { return checkDay(q.Day) },
		func() (e *adminapi.Error) { q.Status, e = parseStatus(v.Get("status")); return e },
		func() *adminapi.Error { return checkDigits("bin", q.BIN, 1, 8) },
		func() *adminapi.Error { return checkDigits("last4", q.Last4, 4, 4) },
		func() *adminapi.Error { return checkLen("rc", q.RC, 2) },
		func() (e *adminapi.Error) { q.MinAmount, e = parseAmount(v, "min_amount"); return e },
		func() (e *adminapi.Error) { q.MaxAmount, e = parseAmount(v, "max_amount"); return e },
		func() (e *adminapi.Error) { q.From, e = parseTime(v, "from"); return e },
		func() (e *adminapi.Error) { q.To, e = parseTime(v, "to"); return e },
		func() (e *adminapi.Error) { q.Limit, e = parseLimit(v.Get("limit")); return e },
	}
	for _, check := range checks {
		if e := check(); e != nil {
			return store.Query{}, e
		}
	}
	if q.MinAmount != nil && q.MaxAmount != nil && *q.MinAmount > *q.MaxAmount {
		return store.Query{}, paramErr("max_amount", "is below min_amount")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return store.Query{}, paramErr("to", "is not after from")
	}
	return q, nil
}

func onlyParams(v url.Values, known ...string) *adminapi.Error {
	for k := range v {
		if !slices.Contains(known, k) {
			return paramErr(k, "unknown parameter: want one of "+strings.Join(known, ", "))
		}
	}
	return nil
}

func checkDay(day string) *adminapi.Error {
	if day == "" {
		return nil
	}
	if _, err := time.Parse("20060102", day); err != nil || len(day) != 8 {
		return paramErr("day", fmt.Sprintf("%q: want a business day as YYYYMMDD", day))
	}
	return nil
}

func checkDigits(name, s string, minLen, maxLen int) *adminapi.Error {
	if s == "" {
		return nil
	}
	ok := len(s) >= minLen && len(s) <= maxLen
	for _, c := range s {
		ok = ok && c >= '0' && c <= '9'
	}
	if !ok {
		return paramErr(name, fmt.Sprintf("%q: want %d to %d digits", s, minLen, maxLen))
	}
	return nil
}

func checkLen(name, s string, n int) *adminapi.Error {
	if s != "" && len(s) != n {
		return paramErr(name, fmt.Sprintf("%q: want %d characters", s, n))
	}
	return nil
}

func parseStatus(s string) (*store.Status, *adminapi.Error) {
	if s == "" {
		return nil, nil
	}
	var names []string
	for i := store.StatusPending; i <= store.StatusReversed; i++ {
		if i.String() == s {
			return &i, nil
		}
		names = append(names, i.String())
	}
	return nil, paramErr("status", fmt.Sprintf("%q: want one of %s", s, strings.Join(names, ", ")))
}

func txnTypes() []string {
	var out []string
	for t := store.TypePurchase; t <= store.TypeCompletion; t++ {
		out = append(out, t.String())
	}
	return out
}

func parseAmount(v url.Values, name string) (*int64, *adminapi.Error) {
	s := v.Get(name)
	if s == "" {
		return nil, nil
	}
	a, err := strconv.ParseInt(s, 10, 64)
	if err != nil || a < 0 {
		return nil, paramErr(name, fmt.Sprintf("%q: want a non-negative amount in minor units (1234 for 12.34)", s))
	}
	return &a, nil
}

func parseTime(v url.Values, name string) (time.Time, *adminapi.Error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, paramErr(name, fmt.Sprintf("%q: want an RFC 3339 time such as 2025-11-22T12:00:00Z", s))
	}
	return t, nil
}

func parseLimit(s string) (int, *adminapi.Error) {
	if s == "" {
		return 0, nil
	}
	l, err := strconv.Atoi(s)
	if err != nil || l < 1 || l > store.MaxListLimit {
		return 0, paramErr("limit", fmt.Sprintf("%q: want 1 to %d", s, store.MaxListLimit))
	}
	return l, nil
}

func paramErr(param, msg string) *adminapi.Error {
	return &adminapi.Error{Error: "parameter " + param + ": " + msg, Param: param}
}

func badParam(w http.ResponseWriter, param, msg string) {
	writeJSON(w, http.StatusBadRequest, *paramErr(param, msg))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (n *Node) leadersSeen(w http.ResponseWriter, _ *http.Request) {
	out := adminapi.Leaders{ID: n.cfg.ID, Seen: []adminapi.LeaderSeen{}}
	for _, s := range n.leaders.List() {
		out.Seen = append(out.Seen, adminapi.LeaderSeen{Term: s.Term, LeaderID: s.LeaderID, At: s.At})
	}
	writeJSON(w, http.StatusOK, out)
}
