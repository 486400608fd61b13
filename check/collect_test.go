package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// fakeNode serves the admin API endpoints Collect and WaitQuiet read.
type fakeNode struct {
	mu      sync.Mutex
	status  adminapi.Status
	hashes  []adminapi.Hash // successive answers of GET /hash; the last repeats
	totals  adminapi.Totals
	leaders adminapi.Leaders
	txns    []adminapi.Txn
	// safFor answers a SAF depth of 1 on the first safFor GET /status.
	safFor   int
	statuses int
	pages    int
}

func (f *fakeNode) serve(t *testing.T) *adminapi.Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		st := f.status
		if f.statuses++; f.statuses <= f.safFor {
			st.SAF = []adminapi.SAFQueue{{Acquirer: "acq1", Depth: 1}}
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("GET /hash", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		h := f.hashes[0]
		if len(f.hashes) > 1 {
			f.hashes = f.hashes[1:]
		}
		writeJSON(w, h)
	})
	mux.HandleFunc("GET /totals", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, f.totals) })
	mux.HandleFunc("GET /leaders", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, f.leaders) })
	mux.HandleFunc("GET /txns", f.txnPage)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return adminapi.NewClient(srv.URL)
}

// txnPage pages like the node: limit (max 1000), an opaque cursor, and
// the status filter.
func (f *fakeNode) txnPage(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages++
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit < 1 || limit > 1000 {
		http.Error(w, `{"error":"limit"}`, http.StatusBadRequest)
		return
	}
	from, _ := strconv.Atoi(q.Get("cursor"))
	var sel []adminapi.Txn
	for _, t := range f.txns {
		if s := q.Get("status"); s == "" || t.Status == s {
			sel = append(sel, t)
		}
	}
	to := min(from+limit, len(sel))
	p := adminapi.TxnPage{Txns: sel[from:to]}
	if to < len(sel) {
		p.NextCursor = strconv.Itoa(to)
	}
	writeJSON(w, p)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// serveLedger serves acqsim's GET /ledger with recs.
func serveLedger(t *testing.T, recs []AcqRecord) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ledger" {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, map[string]any{"records": recs})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeCluster serves three nodes holding w's transactions as the admin
// API renders them.
func fakeCluster(t *testing.T, w *world) ([]*fakeNode, []*adminapi.Client) {
	in := w.input()
	var fakes []*fakeNode
	var clients []*adminapi.Client
	for _, n := range in.Nodes {
		f := &fakeNode{
			status:  adminapi.Status{ID: n.ID, AppliedIndex: n.AppliedIndex},
			hashes:  []adminapi.Hash{{AppliedIndex: n.AppliedIndex, SHA256: n.Hash}},
			totals:  adminapi.Totals{AppliedIndex: n.AppliedIndex, Net: map[string]adminapi.Sum{}},
			leaders: adminapi.Leaders{ID: n.ID},
		}
		for k, s := range n.Totals {
			f.totals.Net[k] = adminapi.Sum{Count: s.Count, Amount: s.Amount}
		}
		for _, l := range n.Leaders {
			f.leaders.Seen = append(f.leaders.Seen, adminapi.LeaderSeen{Term: l.Term, LeaderID: l.LeaderID, At: time.Unix(0, t0)})
		}
		for _, tx := range n.Txns {
			f.txns = append(f.txns, apiTxn(tx))
		}
		fakes = append(fakes, f)
		clients = append(clients, f.serve(t))
	}
	return fakes, clients
}

func apiTxn(t Txn) adminapi.Txn {
	return adminapi.Txn{
		ID: t.ID, Type: t.Type, MTI: t.MTI, ProcCode: t.ProcCode, Amount: t.Amount, Terminal: t.Terminal,
		STAN: t.ID[8:14], TransmissionTime: t.ID[14:], Acquirer: t.Acquirer, AcqSTAN: t.AcqSTAN, RRN: t.RRN,
		OriginalID: t.OriginalID, Status: t.Status, RC: t.RC, AuthCode: t.AuthCode, StandIn: t.StandIn,
		Day: t.Day, Batch: t.Batch, AcqTime: t.AcqTime, Repeat: t.Repeat,
	}
}

// TestCollectThenRun: what Collect reads over HTTP is what Run needs; a
// consistent run collected through the admin API passes, every page read.
func TestCollectThenRun(t *testing.T) {
	w := newWorld()
	for i := range 1200 { // two pages of /txns
		w.approved("0200", "000000", int64(100+i))
	}
	standIn(w)
	w.txns[0].Repeat = true
	w.recs[0].Requests, w.recs[0].Repeats = 2, 1
	fakes, clients := fakeCluster(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := Collect(ctx, clients, serveLedger(t, derefs(w.recs)))
	if err != nil {
		t.Fatal(err)
	}
	if fakes[0].pages != 2 {
		t.Errorf("read %d pages of /txns, want 2", fakes[0].pages)
	}
	want := w.input()
	for i := range want.Nodes {
		if !reflect.DeepEqual(in.Nodes[i].Txns, want.Nodes[i].Txns) || in.Nodes[i].ID != want.Nodes[i].ID {
			t.Fatalf("node %d: collected txns differ from served", i)
		}
		if !reflect.DeepEqual(in.Nodes[i].Totals, want.Nodes[i].Totals) || len(in.Nodes[i].Leaders) != 2 || in.Nodes[i].Hash != "5e1f00d" {
			t.Fatalf("node %d collected %+v", i, in.Nodes[i].Totals)
		}
	}
	if !reflect.DeepEqual(in.Acquirer, want.Acquirer) {
		t.Fatal("collected ledger differs from served")
	}
	in.History = w.events
	if r := Run(in); !r.OK() {
		t.Fatalf("collected run fails:\n%s", r)
	}
}

func derefs(rs []*AcqRecord) []AcqRecord {
	out := make([]AcqRecord, len(rs))
	for i, r := range rs {
		out[i] = *r
	}
	return out
}

func TestCollectSAFDepthSummed(t *testing.T) {
	f := &fakeNode{status: adminapi.Status{ID: "n1", SAF: []adminapi.SAFQueue{{Acquirer: "a", Depth: 2}, {Acquirer: "b", Depth: 3}}},
		hashes: []adminapi.Hash{{AppliedIndex: 7, SHA256: "h"}}, totals: adminapi.Totals{AppliedIndex: 7}}
	in, err := Collect(context.Background(), []*adminapi.Client{f.serve(t)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if in.Nodes[0].SAFDepth != 5 || !in.SkipAcquirer {
		t.Fatalf("collected %+v", in)
	}
}

func TestCollectFailsLoudly(t *testing.T) {
	quiet := func() *fakeNode {
		return &fakeNode{status: adminapi.Status{ID: "n1"}, hashes: []adminapi.Hash{{AppliedIndex: 7, SHA256: "h"}}, totals: adminapi.Totals{AppliedIndex: 7}}
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	cases := []struct {
		name   string
		nodes  func() []*adminapi.Client
		acqsim string
		is     error
	}{
		{"a node does not answer", func() []*adminapi.Client {
			return []*adminapi.Client{quiet().serve(t), adminapi.NewClient(down.URL)}
		}, "", nil},
		{"a node applies while read", func() []*adminapi.Client {
			f := quiet()
			f.hashes = []adminapi.Hash{{AppliedIndex: 7, SHA256: "h"}, {AppliedIndex: 8, SHA256: "i"}}
			return []*adminapi.Client{f.serve(t)}
		}, "", ErrNotQuiet},
		{"totals at another index", func() []*adminapi.Client {
			f := quiet()
			f.totals.AppliedIndex = 6
			return []*adminapi.Client{f.serve(t)}
		}, "", ErrNotQuiet},
		{"acqsim does not answer", func() []*adminapi.Client { return []*adminapi.Client{quiet().serve(t)} }, down.URL, nil},
		{"acqsim fails", func() []*adminapi.Client { return []*adminapi.Client{quiet().serve(t)} }, broken.URL, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Collect(context.Background(), tc.nodes(), tc.acqsim)
			if err == nil {
				t.Fatal("collected without an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
		})
	}
}

func TestWaitQuiet(t *testing.T) {
	f := &fakeNode{status: adminapi.Status{ID: "n1"}, hashes: []adminapi.Hash{{AppliedIndex: 7, SHA256: "h"}}, safFor: 3}
	g := &fakeNode{status: adminapi.Status{ID: "n2"}, hashes: []adminapi.Hash{{AppliedIndex: 7, SHA256: "h"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := WaitQuiet(ctx, []*adminapi.Client{f.serve(t), g.serve(t)}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if f.statuses < 4 {
		t.Fatalf("quiet after %d status reads, while SAF was owed for 3", f.statuses)
	}
}

func TestWaitQuietSaysWhy(t *testing.T) {
	f := &fakeNode{status: adminapi.Status{ID: "n1"}, hashes: []adminapi.Hash{{AppliedIndex: 7, SHA256: "h"}},
		txns: []adminapi.Txn{{ID: "T0000001000001" + "1203101112", Status: statusPending}}}
	g := &fakeNode{status: adminapi.Status{ID: "n2"}, hashes: []adminapi.Hash{{AppliedIndex: 6, SHA256: "g"}}}
	for _, tc := range []struct {
		name  string
		nodes []*fakeNode
		why   string
	}{
		{"pending transaction", []*fakeNode{f}, "is pending"},
		{"replicas apart", []*fakeNode{g, f}, "at index 6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clients []*adminapi.Client
			for _, n := range tc.nodes {
				clients = append(clients, n.serve(t))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := WaitQuiet(ctx, clients, time.Millisecond)
			if !errors.Is(err, ErrNotQuiet) || !errors.Is(err, context.DeadlineExceeded) || !bytes.Contains([]byte(err.Error()), []byte(tc.why)) {
				t.Fatalf("error %v, want ErrNotQuiet saying %q", err, tc.why)
			}
		})
	}
}

// ledgerSample is a record as acqsim's GET /ledger spells it.
const ledgerSample = `{"records":[{"key":"0220T00000010005031203101120","class":"0220","kind":"purchase","amount":2000,
"rc":"00","auth_code":"S12345","rrn":"000100000042","day":"20261203","original":"0200T00000010005011203101113",
"reversed":true,"reversed_day":"20261204","tombstone":true,"stand_in":true,"advice":true,"requests":3,"repeats":2,"refused":1}]}`

// TestAcqRecordJSON: every field of the contract decodes, and no field of
// ours has a tag the contract does not have.
func TestAcqRecordJSON(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader([]byte(ledgerSample)))
	dec.DisallowUnknownFields()
	var l ledger
	if err := dec.Decode(&l); err != nil {
		t.Fatal(err)
	}
	want := AcqRecord{Key: "0220T00000010005031203101120", Class: "0220", Kind: "purchase", Amount: 2000, RC: "00",
		AuthCode: "S12345", RRN: "000100000042", Day: "20261203", Original: "0200T00000010005011203101113", Reversed: true,
		ReversedDay: "20261204", Tombstone: true, StandIn: true, Advice: true, Requests: 3, Repeats: 2, Refused: 1}
	if len(l.Records) != 1 || l.Records[0] != want {
		t.Fatalf("decoded %+v\nwant    %+v", l.Records, want)
	}
	var ours map[string]any
	b, _ := json.Marshal(want)
	_ = json.Unmarshal(b, &ours)
	var sample struct{ Records []map[string]any }
	_ = json.Unmarshal([]byte(ledgerSample), &sample)
	if !slices.Equal(sortedKeys(ours), sortedKeys(sample.Records[0])) {
		t.Fatalf("our tags %v, the contract's %v", sortedKeys(ours), sortedKeys(sample.Records[0]))
	}
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestLedgerFromAddress: an acqsim admin address without a scheme works.
func TestLedgerFromAddress(t *testing.T) {
	url := serveLedger(t, []AcqRecord{{Key: "k"}})
	recs, err := Ledger(context.Background(), url[len("http://"):])
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v, error %v", recs, err)
	}
}
