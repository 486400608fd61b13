package check

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/wire"
)

const (
	term1  = "T0000001"
	day1   = "20261203"
	t0     = int64(1_796_300_000_000_000_000) // 2026-12-03 around 10:13 UTC
	tickNs = int64(1_000_000)                 // 1 ms between events
)

// world builds a consistent run: what the register was told, the same
// transactions on three nodes, and the acquirer's ledger. A test case
// builds a world that passes, then breaks one thing.
type world struct {
	clock   int64
	stan    int // register STANs
	acqStan int // acquirer STANs
	events  []history.Event
	txns    []*Txn // every node holds these
	recs    []*AcqRecord
	// perNode tweaks one node's copy (by index) after the copy.
	perNode map[int]func(*Node)
	faults  []Fault
	queues  int
	skipAcq bool
	// totals, when set, replaces the computed totals of a node (by index).
	totals map[int]map[string]Sum
}

func newWorld() *world {
	return &world{clock: t0, perNode: map[int]func(*Node){}, totals: map[int]map[string]Sum{}}
}

func (w *world) tick() int64 { w.clock += tickNs; return w.clock }

// nextID is a new register identity: terminal + STAN + DE7.
func (w *world) nextID() (id, stan, de7 string) {
	w.stan++
	stan = fmt.Sprintf("%06d", w.stan)
	de7 = "1203101112"
	return term1 + stan + de7, stan, de7
}

// de90 names identity id (of this terminal) with mti.
func de90(mti, id string) string {
	return mti + id[8:14] + id[14:24] + strings.Repeat("0", 22)
}

// request records a Request event; rc "" for no answer.
func (w *world) request(id, mti, proc string, amount int64, orig, outcome, rc, auth string) history.Event {
	e := history.Event{
		Kind: history.Request, Register: term1, ID: id, MTI: mti, ProcCode: proc, Amount: amount,
		Original: orig, Invoke: w.tick(), Outcome: outcome, RC: rc, AuthCode: auth, Node: "n1",
	}
	if rc != "" {
		e.RRN = "RRN" + id[8:14]
	}
	e.Return = w.tick()
	w.events = append(w.events, e)
	return e
}

// queueEvent records a Queued or Acked event of message id naming of.
func (w *world) queueEvent(kind history.Kind, id, mti, orig, of, rc string, amount int64) {
	w.events = append(w.events, history.Event{
		Kind: kind, Register: term1, ID: id, MTI: mti, Amount: amount, Original: orig, Of: of, RC: rc, Invoke: w.tick(),
	})
}

// txn adds a transaction held by every node and returns it for tweaks.
func (w *world) txn(id, mti, typ, proc string, amount int64, status, rc, auth, orig string) *Txn {
	w.acqStan++
	t := &Txn{
		ID: id, Type: typ, MTI: mti, ProcCode: proc, Amount: amount, Status: status, RC: rc, AuthCode: auth,
		RRN: "RRN" + id[8:14], Day: day1, Batch: 1, OriginalID: orig, Terminal: term1, Acquirer: "acq1",
		AcqSTAN: fmt.Sprintf("%06d", 500+w.acqStan), AcqTime: "1203101113",
	}
	w.txns = append(w.txns, t)
	return t
}

// record adds an acquirer record for t (its own identity there).
func (w *world) record(t *Txn, kind, rc, auth string) *AcqRecord {
	r := &AcqRecord{
		Key: acqKey(t), Class: acqClass(t.MTI), Kind: kind, Amount: t.Amount, RC: rc, AuthCode: auth,
		RRN: t.RRN, Day: day1, Requests: 1,
	}
	w.recs = append(w.recs, r)
	return r
}

// derived adds a record of a message the node sent on its own (its
// reversal 0420 or stand-in advice 0220) naming t.
func (w *world) derived(t *Txn, class, kind, auth string, advice bool) *AcqRecord {
	w.acqStan++
	r := &AcqRecord{
		Key: class + term1 + fmt.Sprintf("%06d", 500+w.acqStan) + "1203101120", Class: class, Kind: kind,
		Amount: t.Amount, RC: "00", AuthCode: auth, Day: day1, Original: acqKey(t), Advice: advice, StandIn: advice, Requests: 1,
	}
	w.recs = append(w.recs, r)
	return r
}

// approved is the whole happy path of one financial request.
func (w *world) approved(mti, proc string, amount int64) (string, *Txn) {
	id, _, _ := w.nextID()
	auth := "A" + id[9:14]
	w.request(id, mti, proc, amount, "", history.Answered, "00", auth)
	t := w.txn(id, mti, typeOf(mti, proc), proc, amount, statusApproved, "00", auth, "")
	w.record(t, typeOf(mti, proc), "00", auth)
	return id, t
}

// declined: the acquirer declined it with rc.
func (w *world) declined(amount int64, rc string) (string, *Txn) {
	id, _, _ := w.nextID()
	w.request(id, "0200", "000000", amount, "", history.Answered, rc, "")
	t := w.txn(id, "0200", "purchase", "000000", amount, statusDeclined, rc, "", "")
	w.record(t, "purchase", rc, "")
	return id, t
}

// reverse has the register reverse id (answered rc) and the node and the
// acquirer apply it when rc is 00.
func (w *world) reverse(id string, amount int64, rc string) (string, *Txn) {
	rid, _, _ := w.nextID()
	w.request(rid, "0400", "000000", amount, de90("0200", id), history.Answered, rc, "")
	if rc != "00" {
		return rid, nil
	}
	rt := w.txn(rid, "0400", kindReversal, "000000", amount, statusApproved, "00", "", id)
	r := w.record(rt, kindReversal, "00", "")
	r.Original = acqKey(w.find(id))
	w.markReversed(id)
	return rid, rt
}

// markReversed sets id reversed on the nodes and at the acquirer.
func (w *world) markReversed(id string) {
	t := w.find(id)
	t.Status = statusReversed
	for _, r := range w.recs {
		if r.Key == acqKey(t) && r.RC == "00" {
			r.Reversed, r.ReversedDay = true, day1
		}
	}
}

func (w *world) find(id string) *Txn {
	for _, t := range w.txns {
		if t.ID == id {
			return t
		}
	}
	panic("no txn " + id)
}

func (w *world) findRecord(t *Txn) *AcqRecord {
	for _, r := range w.recs {
		if r.Key == acqKey(t) {
			return r
		}
	}
	panic("no record for " + t.ID)
}

func typeOf(mti, proc string) string {
	switch mti {
	case "0100", "0120":
		return "preauth"
	case "0220":
		return "completion"
	}
	return wire.ProcKind(proc).String()
}

// input assembles the run: three nodes with copies of the transactions,
// their totals computed as the node computes them.
func (w *world) input() Input {
	in := Input{History: slices.Clone(w.events), Faults: w.faults, RegisterQueues: w.queues, SkipAcquirer: w.skipAcq}
	for _, r := range w.recs {
		in.Acquirer = append(in.Acquirer, *r)
	}
	for i, id := range []string{"n1", "n2", "n3"} {
		n := Node{ID: id, AppliedIndex: 100, Hash: "5e1f00d",
			Leaders: []Leader{{Term: 1, LeaderID: "n1"}, {Term: 2, LeaderID: "n2"}}}
		for _, t := range w.txns {
			n.Txns = append(n.Txns, *t)
		}
		if f := w.perNode[i]; f != nil {
			f(&n)
		}
		n.Totals = nodeTotals(n.Txns)
		if t, ok := w.totals[i]; ok {
			n.Totals = t
		}
		in.Nodes = append(in.Nodes, n)
	}
	return in
}

// nodeTotals sums approved transactions as store.Totals does, taking back
// approvals a later reversal names.
func nodeTotals(txns []Txn) map[string]Sum {
	reversed := map[string]bool{}
	for _, t := range txns {
		if t.Type == kindReversal && t.Status == statusApproved {
			reversed[t.OriginalID] = true
		}
	}
	out := map[string]Sum{}
	for _, t := range txns {
		if t.Status == statusApproved && netKinds[t.Type] && !reversed[t.ID] {
			s := out[t.Type]
			s.Count++
			s.Amount += t.Amount
			out[t.Type] = s
		}
	}
	return out
}

// invariants are the distinct invariants of a report's violations.
func invariants(r Report) []string {
	return slices.Sorted(maps.Keys(r.ByInvariant()))
}

// mustRun runs the checker and fails unless exactly the invariants want
// are violated, one of them with a detail containing detail.
func mustRun(t *testing.T, in Input, want []string, detail string) Report {
	t.Helper()
	r := Run(in)
	got := invariants(r)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("violated %v, want %v\n%s", got, want, r)
	}
	if detail == "" {
		return r
	}
	for _, v := range r.Violations {
		if strings.Contains(v.Detail, detail) {
			return r
		}
	}
	t.Fatalf("no violation says %q\n%s", detail, r)
	return r
}

func timeAt(ns int64) time.Time { return time.Unix(0, ns) }
