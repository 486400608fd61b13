package store

import "testing"

// TestReversalBeforeOriginal: whichever of a reversal and its original is
// recorded first, the pair nets to zero and the original never becomes
// pending work for the acquirer.
func TestReversalBeforeOriginal(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)

	rev := l.txn(linkedTxn(t, v, 2, TypeReversal, 500, 1), StatusApproved)
	if rev.Status != StatusApproved {
		t.Fatalf("reversal of an unknown original: %v", rev.Status)
	}
	orig := l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 500)))
	if orig.Status != StatusDeclined || orig.RC != RCReversedFirst {
		t.Fatalf("late original: status %v RC %q, want declined %s", orig.Status, orig.RC, RCReversedFirst)
	}
	if p, _ := s.Pending(); len(p) != 0 {
		t.Fatalf("%d pending: the late original must not wait for the acquirer", len(p))
	}
	// An original recorded first is reversed as usual, and nothing is
	// remembered for it.
	l.txn(newTxn(t, v, 3, TypePurchase, 700), StatusApproved)
	l.txn(linkedTxn(t, v, 4, TypeReversal, 700, 3), StatusApproved)
	if got := mustGet(t, s, idOf(3)); got.Status != StatusReversed {
		t.Fatalf("original reversed after it was approved: %v", got.Status)
	}
	tot, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	if n := tot.Net["purchase"]; n.Count != 0 || n.Amount != 0 {
		t.Fatalf("net %+v, want zero", n)
	}
}
