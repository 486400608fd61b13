package check

import (
	"strings"
	"testing"

	"github.com/tillgate/tillgate/history"
)

type ruleCase struct {
	name   string
	build  func(w *world)
	want   []string // exactly these invariants are violated
	detail string   // and one violation's detail says this
}

// passing are runs that break no rule: each shape the checker must accept.
var passing = []ruleCase{
	{name: "approved purchase", build: func(w *world) { w.approved("0200", "000000", 1234) }},
	{name: "declined purchase", build: func(w *world) { w.declined(5000, "05") }},
	{name: "decline never stored (invalid card)", build: func(w *world) {
		id, _, _ := w.nextID()
		w.request(id, "0200", "000000", 100, "", history.Answered, "14", "")
	}},
	{name: "every kind", build: func(w *world) {
		w.approved("0200", "200000", 500) // refund
		w.approved("0200", "090000", 700) // cashback
		w.approved("0200", "310000", 0)   // balance: never in totals
		pre, pt := w.approved("0100", "000000", 10000)
		cid, _, _ := w.nextID()
		w.request(cid, "0220", "000000", 9000, de90("0100", pre), history.Answered, "00", "C00001")
		ct := w.txn(cid, "0220", "completion", "000000", 9000, statusApproved, "00", "C00001", pre)
		w.record(ct, "completion", "00", "C00001").Original = acqKey(pt)
	}},
	{name: "register reverses an approval", build: func(w *world) {
		id, _ := w.approved("0200", "000000", 1234)
		w.reverse(id, 1234, "00")
	}},
	{name: "late reversal of a settled approval (original stays approved in its day)", build: func(w *world) {
		id, t := w.approved("0200", "000000", 1234)
		w.reverse(id, 1234, "00")
		t.Status = statusApproved
	}},
	{name: "unknown outcome reversed from the queue nets to zero", build: unknownReversed},
	{name: "reversal answered 91, queued, acknowledged later", build: func(w *world) {
		id, t := w.approved("0200", "000000", 1234)
		rid, _, _ := w.nextID()
		w.request(rid, "0400", "000000", 1234, de90("0200", id), history.Answered, "91", "")
		w.queueEvent(history.Queued, rid, "0400", de90("0200", id), rid, "", 1234)
		w.queueEvent(history.Acked, rid, "0400", de90("0200", id), rid, "00", 1234)
		rt := w.txn(rid, "0400", kindReversal, "000000", 1234, statusApproved, "00", "", id)
		w.record(rt, kindReversal, "00", "").Original = acqKey(t)
		w.markReversed(id)
	}},
	{name: "balance inquiry declined 91 here, answered by the acquirer (no money moves)", build: func(w *world) {
		id, _, _ := w.nextID()
		w.request(id, "0200", "310000", 0, "", history.Answered, "91", "")
		t := w.txn(id, "0200", "balance", "310000", 0, statusDeclined, "91", "", "")
		w.record(t, "balance", "00", "794803")
	}},
	{name: "balance inquiry unknown to the register, answered on every node", build: func(w *world) {
		id, _, _ := w.nextID()
		w.request(id, "0200", "310000", 0, "", history.Unknown, "", "")
		t := w.txn(id, "0200", "balance", "310000", 0, statusApproved, "00", "813069", "")
		w.record(t, "balance", "00", "813069")
	}},
	{name: "not sent, recorded nowhere", build: func(w *world) {
		id, _, _ := w.nextID()
		w.request(id, "0200", "000000", 100, "", history.NotSent, "", "")
	}},
	{name: "stand-in: attempt reversed by the node's 0420, advice booked", build: standIn},
	{name: "acquirer asked again by a repeat after a takeover", build: func(w *world) {
		_, t := w.approved("0200", "000000", 1234)
		t.Repeat = true
		r := w.findRecord(t)
		r.Requests, r.Repeats = 2, 1
	}},
	{name: "the old active's original reached the acquirer after the new active's repeat (94, no effect)", build: func(w *world) {
		_, t := w.approved("0200", "000000", 1234)
		t.Repeat = true
		r := w.findRecord(t)
		r.Requests, r.Repeats, r.Refused = 1, 1, 1
	}},
	{name: "repeat of the identity gets the same answer", build: func(w *world) {
		id, t := w.approved("0200", "000000", 1234)
		w.request(id, "0200", "000000", 1234, "", history.Answered, "00", t.AuthCode)
	}},
	{name: "0120 advice: no answer, queued, acknowledged", build: func(w *world) {
		id, _, _ := w.nextID()
		w.request(id, "0120", "000000", 800, "", history.Unknown, "", "")
		w.queueEvent(history.Queued, id, "0120", "", id, "", 800)
		w.queueEvent(history.Acked, id, "0120", "", id, "00", 800)
		t := w.txn(id, "0120", "preauth", "000000", 800, statusApproved, "00", "", "")
		w.record(t, "preauth", "00", "").Advice = true
	}},
	{name: "reversal before its original: the original is declined", build: func(w *world) {
		id, _, _ := w.nextID()
		rid, _, _ := w.nextID()
		w.request(rid, "0400", "000000", 300, de90("0200", id), history.Answered, "00", "")
		w.txn(rid, "0400", kindReversal, "000000", 300, statusApproved, "00", "", id)
		w.request(id, "0200", "000000", 300, "", history.Answered, "05", "")
		w.txn(id, "0200", "purchase", "000000", 300, statusDeclined, "05", "", "")
	}},
	{name: "no acquirer ledger (skipped, said so)", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.recs = nil
		w.skipAcq = true
	}},
}

// unknownReversed: no answer came; the register's queued reversal was
// acknowledged; the acquirer had approved, the reversal took it back.
func unknownReversed(w *world) {
	id, _, _ := w.nextID()
	w.request(id, "0200", "000000", 1234, "", history.Unknown, "", "")
	t := w.txn(id, "0200", "purchase", "000000", 1234, statusReversed, "91", "", "")
	w.record(t, "purchase", "00", "A11111").Reversed = true
	rid, _, _ := w.nextID()
	w.queueEvent(history.Queued, rid, "0400", de90("0200", id), id, "", 1234)
	w.queueEvent(history.Acked, rid, "0400", de90("0200", id), id, "00", 1234)
	rt := w.txn(rid, "0400", kindReversal, "000000", 1234, statusApproved, "00", "", id)
	w.record(rt, kindReversal, "00", "").Original = acqKey(t)
}

// standIn: the acquirer timed out (it had approved the attempt), the node
// approved by itself and delivered its 0420 and its advice.
func standIn(w *world) {
	id, _, _ := w.nextID()
	w.request(id, "0200", "000000", 2000, "", history.Answered, "00", "S12345")
	t := w.txn(id, "0200", "purchase", "000000", 2000, statusApproved, "00", "S12345", "")
	t.StandIn = true
	w.record(t, "purchase", "00", "A99999").Reversed = true
	w.derived(t, "0400", kindReversal, "", false)
	w.derived(t, "0220", "purchase", "S12345", true)
}

func TestRunPasses(t *testing.T) {
	for _, tc := range passing {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			tc.build(w)
			r := mustRun(t, w.input(), nil, "")
			if r.Identities == 0 {
				t.Fatal("no identity counted")
			}
		})
	}
}

// failing are runs that each break a rule; the comment says why the other
// invariants listed follow from the same fault.
var failing = []ruleCase{
	// I1: lost approvals.
	{name: "approval missing on one node", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.perNode[1] = func(n *Node) { n.Txns = nil }
	}, want: []string{I1, I4, I7}, detail: "no such transaction on node n2"}, // n2's totals; n2's final read
	{name: "lost approval offset by a phantom of the same amount", build: func(w *world) {
		id, _ := w.approved("0200", "000000", 1234)
		w.perNode[1] = func(n *Node) { n.Txns[0].ID, n.Txns[0].AcqSTAN = term1+"999999"+id[14:], "999999" }
	}, want: []string{I1, I3, I7}, detail: "no such transaction on node n2"}, // totals agree: only per identity sees it
	{name: "register holds S12345, cluster and acquirer another DE38", build: func(w *world) {
		_, t := w.approved("0200", "000000", 1234)
		t.AuthCode = "S99999"
		w.findRecord(t).AuthCode = "S99999"
	}, want: []string{I1, I7}, detail: `DE38 "S99999"`},
	{name: "other amount on the nodes", build: func(w *world) {
		_, t := w.approved("0200", "000000", 1234)
		t.Amount = 999
	}, want: []string{I1, I4}, detail: "approved amount 999"},
	{name: "approval in no batch", build: func(w *world) {
		_, t := w.approved("0200", "000000", 1234)
		t.Batch = 0
	}, want: []string{I1}, detail: "no business day or batch"},
	{name: "approval in two days", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.perNode[2] = func(n *Node) { n.Txns[0].Day = "20261204" }
	}, want: []string{I1}, detail: "different days"},
	{name: "approval never reached the acquirer", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.recs = nil
	}, want: []string{I1, I4, I7}, detail: "no standing approval"},
	{name: "INTENT left open on a node", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.perNode[2] = func(n *Node) { n.Txns[0].Status = statusPending }
	}, want: []string{I1, I4, I7}, detail: "INTENT still open"},
	{name: "outcome unknown on the nodes at the end", build: func(w *world) {
		unknownReversed(w)
		w.txns[0].Status = statusUnknown
	}, want: []string{I1}, detail: "outcome still unknown"},
	{name: "node SAF not drained", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.perNode[0] = func(n *Node) { n.SAFDepth = 2 }
	}, want: []string{I1}, detail: "still owes 2 SAF entries"},
	{name: "advice never acknowledged, still queued", build: func(w *world) {
		id, _, _ := w.nextID()
		w.request(id, "0120", "000000", 800, "", history.Unknown, "", "")
		w.queueEvent(history.Queued, id, "0120", "", id, "", 800)
		w.queues = 1
	}, want: []string{I1, I3}, detail: "advice 0120 never acknowledged: still queued"},

	// I2: double effects, answers that change.
	{name: "stand-in attempt never reversed: two approvals at the acquirer", build: func(w *world) {
		standIn(w)
		w.recs[0].Reversed = false
	}, want: []string{I2, I4, I7}, detail: "2 standing approvals"},
	{name: "acquirer saw the identity twice, no node repeated", build: func(w *world) {
		_, t := w.approved("0200", "000000", 1234)
		r := w.findRecord(t)
		r.Requests, r.Repeats = 2, 1
	}, want: []string{I2}, detail: "no node recorded asking it again"},
	{name: "second frame with an original MTI", build: func(w *world) {
		_, t := w.approved("0200", "000000", 1234)
		t.Repeat = true
		w.findRecord(t).Requests = 2
	}, want: []string{I2}, detail: "with an original MTI"},
	{name: "acquirer refused a duplicate", build: func(w *world) {
		_, t := w.approved("0200", "000000", 1234)
		w.findRecord(t).Refused = 1
	}, want: []string{I2}, detail: "refused 1 frame"},
	{name: "a repeat answered with another DE38", build: func(w *world) {
		id, _ := w.approved("0200", "000000", 1234)
		w.request(id, "0200", "000000", 1234, "", history.Answered, "00", "B77777")
	}, want: []string{I2, I7}, detail: "a repeat must get the first answer"},
	{name: "a repeat answered 05 after 00", build: func(w *world) {
		id, _ := w.approved("0200", "000000", 1234)
		w.request(id, "0200", "000000", 1234, "", history.Answered, "05", "")
	}, want: []string{I2, I7}, detail: "answered 00"},
	{name: "the register reused an identity for another amount", build: func(w *world) {
		id, t := w.approved("0200", "000000", 1234)
		w.request(id, "0200", "000000", 999, "", history.Answered, "00", t.AuthCode)
	}, want: []string{I2}, detail: "two messages"},
	{name: "two transactions share an acquirer STAN", build: func(w *world) {
		_, t1 := w.approved("0200", "000000", 1234)
		_, t2 := w.approved("0200", "000000", 1234)
		w.recs = w.recs[:1] // the acquirer took the second for the first
		t2.AcqSTAN = t1.AcqSTAN
	}, want: []string{I1, I2, I4, I7}, detail: "acquirer identity is also that of"},
	{name: "node declined with another RC than the register got", build: func(w *world) {
		_, t := w.declined(5000, "05")
		t.RC = "51"
	}, want: []string{I2}, detail: "nodes n1, n2, n3 recorded 51"},

	{name: "acquirer refused a frame naming an identity it never booked", build: func(w *world) {
		w.recs = append(w.recs, &AcqRecord{Key: "0200" + term1 + "888888" + "1203101112", Class: "0200", Tombstone: true, Refused: 1})
	}, want: []string{I2}, detail: "refused 1 frame(s) of 0200T0000001888888"},

	// I3: phantoms, declines approved, unknowns not netted, not-sent recorded.
	{name: "phantom on the nodes", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		ph := w.txn(term1+"777777"+"1203101112", "0200", "purchase", "000000", 50, statusApproved, "00", "P00001", "")
		w.record(ph, "purchase", "00", "P00001")
	}, want: []string{I3, I4}, detail: "phantom: no register sent"},
	{name: "phantom at the acquirer", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.recs = append(w.recs, &AcqRecord{Key: "0200" + term1 + "888888" + "1203101112", Class: "0200", Kind: "purchase",
			Amount: 50, RC: "00", AuthCode: "P00002", Requests: 1})
	}, want: []string{I3, I4}, detail: "phantom at the acquirer"},
	{name: "declined to the register, approved on the nodes", build: func(w *world) {
		_, t := w.declined(5000, "05")
		t.Status, t.RC, t.AuthCode = statusApproved, "00", "Z00001"
	}, want: []string{I3, I4, I7}, detail: "the register was told 05, but it is approved on nodes n1, n2, n3"},
	{name: "declined to the register, approved at the acquirer", build: func(w *world) {
		_, t := w.declined(5000, "96")
		r := w.findRecord(t)
		r.RC, r.AuthCode = "00", "Z00002"
	}, want: []string{I3, I4, I7}, detail: "the acquirer holds 1 standing approval"},
	{name: "unknown outcome never reversed, approved", build: func(w *world) {
		id, _, _ := w.nextID()
		w.request(id, "0200", "000000", 1234, "", history.Unknown, "", "")
		t := w.txn(id, "0200", "purchase", "000000", 1234, statusApproved, "00", "L00001", "")
		w.record(t, "purchase", "00", "L00001")
	}, want: []string{I3, I4}, detail: "no reversal was acknowledged"},
	{name: "reversed approval still approved at the acquirer", build: func(w *world) {
		id, t := w.approved("0200", "000000", 1234)
		w.reverse(id, 1234, "00")
		w.findRecord(t).Reversed = false
	}, want: []string{I3, I4, I7}, detail: "reversed it (acknowledged), but the acquirer holds"},
	{name: "not sent, yet recorded", build: func(w *world) {
		id, _, _ := w.nextID()
		w.request(id, "0200", "000000", 100, "", history.NotSent, "", "")
		t := w.txn(id, "0200", "purchase", "000000", 100, statusApproved, "00", "N00001", "")
		w.record(t, "purchase", "00", "N00001")
	}, want: []string{I3, I4, I7}, detail: "never sent it, yet nodes n1, n2, n3 recorded it"},
	{name: "register took 91 to its reversal as an acknowledgement", build: func(w *world) {
		id, _ := w.approved("0200", "000000", 1234)
		rid, _, _ := w.nextID()
		w.queueEvent(history.Queued, rid, "0400", de90("0200", id), id, "", 1234)
		w.queueEvent(history.Acked, rid, "0400", de90("0200", id), id, "91", 1234)
	}, want: []string{I3, I4, I7}, detail: "took 91 to its queued 0400 as an acknowledgement"},
	{name: "reversal answered 91 and dropped", build: func(w *world) {
		id, _ := w.approved("0200", "000000", 1234)
		rid, _, _ := w.nextID()
		w.request(rid, "0400", "000000", 1234, de90("0200", id), history.Answered, "91", "")
	}, want: []string{I3}, detail: "reversal 0400 never acknowledged and not in the register's queue"},
	{name: "register queues not drained", build: func(w *world) {
		id, _ := w.approved("0200", "000000", 1234)
		rid, _, _ := w.nextID()
		w.queueEvent(history.Queued, rid, "0400", de90("0200", id), id, "", 1234)
		w.queues = 1
	}, want: []string{I3}, detail: "registers still hold 1 queued"},

	// I4..I6: totals, replicas, leaders.
	{name: "one node's totals differ", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.totals[1] = map[string]Sum{"purchase": {2, 2468}}
	}, want: []string{I4}, detail: "purchase: node 2/2468, model 1/1234"},
	{name: "hash differs at the same applied index", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.perNode[2] = func(n *Node) { n.Hash = "bad" }
	}, want: []string{I5}, detail: "differ at applied index 100"},
	{name: "replicas at different applied indexes", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.perNode[1] = func(n *Node) { n.AppliedIndex = 99 }
	}, want: []string{I5}, detail: "did not converge"},
	{name: "nodes recorded different acquirer identities", build: func(w *world) {
		w.approved("0200", "000000", 1234)
		w.perNode[2] = func(n *Node) { n.Txns[0].AcqSTAN = "999999" }
	}, want: []string{I5}, detail: "different acquirer identities"},
	{name: "no hash read", build: func(w *world) {
		w.perNode[0] = func(n *Node) { n.Hash = "" }
	}, want: []string{I5}, detail: "no state hash"},
	{name: "two leaders in one term", build: func(w *world) {
		w.perNode[2] = func(n *Node) { n.Leaders = append(n.Leaders, Leader{Term: 2, LeaderID: "n3"}) }
	}, want: []string{I6}, detail: "term 2 has 2 leaders"},
	{name: "a follower carries the last term's leader into a transfer's term", build: func(w *world) {
		// n2 saw itself lead term 2; n3 read term 2 before it learnt so.
		w.perNode[2] = func(n *Node) { n.Leaders = append(n.Leaders, Leader{Term: 2, LeaderID: "n1"}) }
	}},
	{name: "a follower names a leader that never led before", build: func(w *world) {
		w.perNode[0] = func(n *Node) { n.Leaders = append(n.Leaders, Leader{Term: 2, LeaderID: "n3"}) }
	}, want: []string{I6}, detail: "term 2 has 2 leaders: n2 (seen by n1, n2, n3); n3 (seen by n1)"},
	{name: "two leaders of one term, one of them the last term's", build: func(w *world) {
		w.perNode[0] = func(n *Node) { n.Leaders = append(n.Leaders, Leader{Term: 2, LeaderID: "n1"}) }
	}, want: []string{I6}, detail: "term 2 has 2 leaders: n1 (seen by n1)"},

	// I7 alone: every end state nets right, but the order cannot be.
	{name: "approved after its own reversal was acknowledged", build: func(w *world) {
		id, _, _ := w.nextID()
		rid, _, _ := w.nextID()
		w.request(rid, "0400", "000000", 300, de90("0200", id), history.Answered, "00", "")
		w.request(id, "0200", "000000", 300, "", history.Answered, "00", "R00001")
		t := w.txn(id, "0200", "purchase", "000000", 300, statusReversed, "00", "R00001", "")
		w.record(t, "purchase", "00", "R00001").Reversed = true
		rt := w.txn(rid, "0400", kindReversal, "000000", 300, statusApproved, "00", "", id)
		w.record(rt, kindReversal, "00", "").Original = acqKey(t)
	}, want: []string{I7}, detail: "not linearizable"},
}

func TestRunFails(t *testing.T) {
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			tc.build(w)
			r := mustRun(t, w.input(), tc.want, tc.detail)
			sent := map[string]bool{}
			for _, e := range w.events {
				sent[e.ID] = true
			}
			for _, v := range r.Violations {
				if sent[v.ID] && len(v.History) == 0 {
					t.Errorf("violation %s %s carries no history", v.Invariant, v.ID)
				}
			}
		})
	}
}

func TestSkipAcquirerIsReported(t *testing.T) {
	w := newWorld()
	w.approved("0200", "000000", 1234)
	w.recs, w.skipAcq = nil, true
	r := Run(w.input())
	if len(r.Skipped) != 1 || !strings.Contains(r.String(), "skipped: acquirer") {
		t.Fatalf("skipped %v\n%s", r.Skipped, r)
	}
}

func TestCounts(t *testing.T) {
	w := newWorld()
	w.approved("0200", "000000", 100)
	id, _ := w.approved("0200", "000000", 200)
	w.reverse(id, 200, "00")
	w.declined(300, "05")
	unknownReversed(w)
	nid, _, _ := w.nextID()
	w.request(nid, "0200", "000000", 1, "", history.NotSent, "", "")
	r := mustRun(t, w.input(), nil, "")
	// identities: 2 approved purchases and their reversal (answered 00),
	// a decline, the unknown and its auto-reversal (acked 00), not sent.
	want := Report{Identities: 7, Approved: 4, Declined: 1, Unknown: 1, NotSent: 1, Reversed: 2}
	got := Report{Identities: r.Identities, Approved: r.Approved, Declined: r.Declined, Unknown: r.Unknown, NotSent: r.NotSent, Reversed: r.Reversed}
	if got.String() != want.String() {
		t.Fatalf("counts %s\nwant   %s", got.Summary(), want.Summary())
	}
}

func TestFaultsAttachToViolations(t *testing.T) {
	w := newWorld()
	w.approved("0200", "000000", 1234)
	w.perNode[1] = func(n *Node) { n.Txns = nil }
	w.faults = []Fault{
		{Kind: "leader-stop", Target: "n1", At: timeAt(t0), End: timeAt(t0 + 10*tickNs)},
		{Kind: "acquirer-down", Target: "acquirer", At: timeAt(t0 + 100*tickNs)},
	}
	r := Run(w.input())
	v := r.Violations[0]
	if len(v.Faults) != 1 || v.Faults[0].Kind != "leader-stop" {
		t.Fatalf("faults of %s: %v", v.ID, v.Faults)
	}
}

// TestReversalLinkedByOf: a queued reversal whose entry carries no DE90 is
// still linked to what it settles (history.Event.Of).
func TestReversalLinkedByOf(t *testing.T) {
	w := newWorld()
	unknownReversed(w)
	for i := range w.events {
		if w.events[i].Kind != history.Request {
			w.events[i].Original = ""
		}
	}
	if r := mustRun(t, w.input(), nil, ""); r.Reversed != 1 {
		t.Fatalf("reversed %d, want 1\n%s", r.Reversed, r)
	}
}
