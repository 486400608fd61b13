package store

import (
	"context"
	"testing"
)

// An approval of a settled day stays one when a reversal comes in the
// next day (its file must not change), but the money went back: Totals,
// like the acquirer's, leave it out (FAULTS.md I4). A second reversal of
// the same approval takes nothing more back.
func TestTotalsReversalOfSettledApproval(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.txn(newTxn(t, v, 1, TypePurchase, 100), StatusApproved)
	l.txn(newTxn(t, v, 2, TypePurchase, 250), StatusApproved)
	l.ok(CutoverCmd(testDay, testNextDay, ByOperator, testEpoch+10))
	l.ok(SettleCmd(testDay, testEpoch+11))
	l.txn(linkedTxn(t, v, 3, TypeReversal, 100, 1), StatusApproved)
	l.txn(linkedTxn(t, v, 4, TypeReversal, 100, 1), StatusApproved)
	if got := mustGet(t, s, idOf(1)); got.Status != StatusApproved {
		t.Fatalf("settled approval became %v", got.Status)
	}
	tot, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	if got := tot.Net["purchase"]; got != (Sum{Count: 1, Amount: 250}) {
		t.Fatalf("purchases %+v, want the one not reversed: {1 250}", got)
	}
	// Only the first reversal takes the approval back: the next day's
	// settlement lists one reversal row, not two.
	var takes []string
	if err := s.EachInDay(context.Background(), testNextDay, func(dt DayTxn) error {
		if dt.TakesBack {
			takes = append(takes, dt.Txn.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(takes) != 1 || takes[0] != idOf(3) {
		t.Fatalf("reversals taking back the settled approval: %v, want only %s", takes, idOf(3))
	}
}
