package store

import (
	"errors"
	"testing"
)

// TestAcquirerIdentityFromTheLog: an INTENT that leaves its acquirer
// identity to Apply gets its terminal's next STAN and an RRN of its Raft
// index; SAF entries take the terminal's next STANs too (a forward keeps
// its transaction's own). Whoever leads, a terminal's STANs never repeat
// (a strict acquirer refuses a STAN reused on one day).
func TestAcquirerIdentityFromTheLog(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	fresh := func(n int, typ TxnType, terminal string) *Txn {
		tx := newTxn(t, v, n, typ, 100)
		tx.TerminalID, tx.AcqSTAN, tx.RRN = terminal, "", ""
		tx.ID = terminal + tx.STAN + tx.TransmissionTime
		return tx
	}
	a1 := l.ok(IntentCmd(fresh(1, TypePurchase, "T0000001")))
	b1 := l.ok(IntentCmd(fresh(2, TypePurchase, "T0000002")))
	a2 := l.ok(IntentCmd(fresh(3, TypePurchase, "T0000001")))
	if a1.AcqSTAN != "000001" || b1.AcqSTAN != "000001" || a2.AcqSTAN != "000002" {
		t.Fatalf("acquirer STANs %s %s %s, want 000001 000001 000002 (per terminal)", a1.AcqSTAN, b1.AcqSTAN, a2.AcqSTAN)
	}
	if a1.RRN != "000000000001" || a2.RRN != "000000000003" {
		t.Fatalf("RRNs %s %s, want the Raft index", a1.RRN, a2.RRN)
	}
	r := l.apply(OutcomeSAFCmd(Outcome{ID: a1.ID, Status: StatusUnknown, RC: "91", At: testEpoch + 5_000_000_000},
		SAFEntry{Acquirer: "acq1", Kind: SAFReversal}))
	if r.Err != nil || len(r.SAF) != 1 {
		t.Fatalf("unknown outcome: %+v", r)
	}
	if e := r.SAF[0]; e.STAN != "000003" || e.AcqTime != de7(testEpoch+5_000_000_000) || e.TxnID != a1.ID {
		t.Fatalf("reversal entry %+v, want the terminal's next STAN and the outcome's time", e)
	}
	a3 := l.ok(IntentCmd(fresh(4, TypePurchase, "T0000001")))
	if a3.AcqSTAN != "000004" {
		t.Fatalf("STAN after an entry took 000003: %s", a3.AcqSTAN)
	}

	// A completion the acquirer could not take is forwarded under its own
	// identity: the acquirer may have its first attempt.
	pre := fresh(5, TypePreAuth, "T0000001")
	l.txn(pre, StatusApproved)
	comp := fresh(6, TypeCompletion, "T0000001")
	comp.OriginalID = pre.ID
	comp = l.ok(IntentCmd(comp))
	r = l.apply(OutcomeSAFCmd(Outcome{ID: comp.ID, Status: StatusApproved, RC: "00", At: testEpoch + 9},
		SAFEntry{Acquirer: "acq1", Kind: SAFForward}))
	if r.Err != nil || len(r.SAF) != 1 || r.SAF[0].STAN != comp.AcqSTAN || r.SAF[0].AcqTime != comp.AcqTime {
		t.Fatalf("forward %+v of completion %s/%s", r, comp.AcqSTAN, comp.AcqTime)
	}
}

// TestStandInAfterTimeoutOwesCancelThenAdvice: one OUTCOME owes two
// entries, in order; their acks change no status.
func TestStandInAfterTimeoutOwesCancelThenAdvice(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	tx := newTxn(t, v, 1, TypePurchase, 1500)
	tx.AcqSTAN = "" // from the terminal's sequence, as the node leaves it
	tx = l.ok(IntentCmd(tx))
	r := l.apply(OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", AuthCode: "S00001", StandIn: true, At: tx.CreatedAt + 1},
		SAFEntry{Acquirer: "acq1", Kind: SAFCancel}, SAFEntry{Acquirer: "acq1", Kind: SAFAdvice}))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	q := mustQueue(t, s, "acq1")
	if len(q) != 2 || q[0].Kind != SAFCancel || q[1].Kind != SAFAdvice || q[0].STAN == tx.AcqSTAN {
		t.Fatalf("queue %+v, want a cancel (a STAN of its own) then an advice", q)
	}
	if q[1].STAN != tx.AcqSTAN || q[1].AcqTime != tx.AcqTime {
		t.Fatalf("advice %+v: want the transaction's own identity %s/%s (a reversal of the stand-in names it)", q[1], tx.AcqSTAN, tx.AcqTime)
	}
	if open, _ := s.StandInOpen("acq1"); open.Count != 1 || open.Amount != 1500 {
		t.Fatalf("open stand-ins %+v", open)
	}
	for _, e := range q {
		l.ok(SAFAckCmd(SAFAck{Acquirer: "acq1", Seq: e.Seq, At: tx.CreatedAt + 2}))
	}
	if got := mustGet(t, s, tx.ID); got.Status != StatusApproved || !got.StandIn {
		t.Fatalf("after the acks: %v stand-in %v, want an approved stand-in", got.Status, got.StandIn)
	}
	if open, _ := s.StandInOpen("acq1"); open.Count != 0 {
		t.Fatalf("open stand-ins after the advice's ack: %+v", open)
	}
}

func TestOwedEntriesMustFitTheOutcome(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	tx := newTxn(t, v, 1, TypePurchase, 100)
	l.ok(IntentCmd(tx))
	for name, cmd := range map[string][]byte{
		"forward of a purchase":   OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", At: 1}, SAFEntry{Acquirer: "acq1", Kind: SAFForward}),
		"cancel without stand-in": OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", At: 1}, SAFEntry{Acquirer: "acq1", Kind: SAFCancel}),
		"reversal of an approval": OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", At: 1}, SAFEntry{Acquirer: "acq1", Kind: SAFReversal}),
		"kind 5":                  OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", At: 1}, SAFEntry{Acquirer: "acq1", Kind: 5}),
	} {
		if r := l.apply(cmd); !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, r.Err)
		}
	}
	if got := mustGet(t, s, tx.ID); got.Status != StatusPending || len(mustQueue(t, s, "acq1")) != 0 {
		t.Fatalf("refused commands changed the state: %v", got.Status)
	}
}

// TestReversalOfPendingOriginal: a register's reversal approved while its
// original is still pending (the original's INTENT open, e.g. left by a
// request that gave up) must win whatever the original's outcome turns out
// to be: the register holds the reversal as final.
func TestReversalOfPendingOriginal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome Status
		want    Status
		owed    int // reversals queued for the acquirer by the original's outcome
	}{
		{"approved later", StatusApproved, StatusReversed, 1},
		{"unknown later", StatusUnknown, StatusReversed, 0},
		{"declined later", StatusDeclined, StatusDeclined, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVault(t)
			s := mustOpen(t, true)
			l := newLog(t, s)
			orig := newTxn(t, v, 1, TypePurchase, 700)
			l.ok(IntentCmd(orig))
			rev := linkedTxn(t, v, 2, TypeReversal, 700, 1)
			l.ok(IntentCmd(rev))
			l.ok(OutcomeCmd(Outcome{ID: rev.ID, Status: StatusApproved, RC: "00", At: orig.CreatedAt + 5}))
			if got := mustGet(t, s, orig.ID); got.Status != StatusPending {
				t.Fatalf("original %v before its outcome, want pending", got.Status)
			}
			l.ok(OutcomeCmd(Outcome{ID: orig.ID, Status: tc.outcome, RC: "00", AuthCode: "123456", At: orig.CreatedAt + 9}))
			if got := mustGet(t, s, orig.ID); got.Status != tc.want {
				t.Fatalf("original %v, want %v", got.Status, tc.want)
			}
			q := mustQueue(t, s, "acq1")
			if len(q) != tc.owed {
				t.Fatalf("queue %+v, want %d reversal(s)", q, tc.owed)
			}
			if tc.owed > 0 && (q[0].Kind != SAFReversal || q[0].TxnID != orig.ID) {
				t.Fatalf("entry %+v, want a reversal of the original", q[0])
			}
			tot, err := s.Totals()
			if err != nil {
				t.Fatal(err)
			}
			if tot.Net["purchase"].Count != 0 {
				t.Fatalf("totals %+v: a reversed purchase counts", tot.Net)
			}
		})
	}
}

func TestRepeatIsRemembered(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	tx := newTxn(t, v, 1, TypePurchase, 100)
	l.ok(IntentCmd(tx))
	l.ok(OutcomeCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", At: 1, Repeat: true}))
	l.ok(OutcomeCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", At: 2}))
	if got := mustGet(t, s, tx.ID); !got.Repeat {
		t.Fatal("Repeat lost")
	}
	// A repeat's OUTCOME after the first one committed (the active whose
	// own apply failed asked again; both OUTCOMEs are in the log) keeps
	// the answer and records the repeat: found by the simulation, seed 318.
	tx2 := newTxn(t, v, 2, TypePurchase, 100)
	l.ok(IntentCmd(tx2))
	l.ok(OutcomeCmd(Outcome{ID: tx2.ID, Status: StatusApproved, RC: "00", AuthCode: "A1", At: 1}))
	got := l.ok(OutcomeCmd(Outcome{ID: tx2.ID, Status: StatusApproved, RC: "00", AuthCode: "A2", At: 2, Repeat: true}))
	if !got.Repeat || got.AuthCode != "A1" || !mustGet(t, s, tx2.ID).Repeat {
		t.Fatalf("after a repeat's outcome on a final txn: %+v, want the first answer and Repeat", got)
	}
}

// TestSAFQueuePages: the sender walks a long queue page by page; entries
// behind the first page are reachable.
func TestSAFQueuePages(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	for i := 1; i <= 5; i++ {
		tx := newTxn(t, v, i, TypePurchase, 100)
		l.ok(IntentCmd(tx))
		l.ok(OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", At: 1}, SAFEntry{Acquirer: "acq1", Kind: SAFReversal}))
	}
	var seen []uint64
	for after := uint64(0); ; {
		page, err := s.SAFQueue("acq1", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seen = append(seen, e.Seq)
		}
		after = page[len(page)-1].Seq
	}
	if len(seen) != 5 || seen[0] != 1 || seen[4] != 5 {
		t.Fatalf("pages gave seqs %v, want 1-5", seen)
	}
}

// TestForwardAckedAsRepeatMarksTheTransaction: a forward goes under its
// transaction's own acquirer identity, which the acquirer may then have
// seen twice (the request's attempt and the forward): acknowledged as a
// repeat, it marks the transaction Repeat; a cancel (an identity of its
// own) does not.
func TestForwardAckedAsRepeatMarksTheTransaction(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	orig := newTxn(t, v, 1, TypePurchase, 100)
	l.txn(orig, StatusApproved)
	rev := linkedTxn(t, v, 2, TypeReversal, 100, 1)
	l.ok(IntentCmd(rev))
	l.ok(OutcomeSAFCmd(Outcome{ID: rev.ID, Status: StatusApproved, RC: "00", At: 5}, SAFEntry{Acquirer: "acq1", Kind: SAFForward}))
	q := mustQueue(t, s, "acq1")
	got := l.ok(SAFAckCmd(SAFAck{Acquirer: "acq1", Seq: q[0].Seq, At: 6, Repeat: true}))
	if got == nil || !got.Repeat || !mustGet(t, s, rev.ID).Repeat {
		t.Fatalf("a forward acknowledged as a repeat left Repeat unset: %+v", got)
	}
}
