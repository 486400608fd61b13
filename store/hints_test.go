package store

import "testing"

// A hint that names the wrong record, or none, is only a guess: the
// OUTCOME falls back to the index and lands on its own transaction, and
// the state is the one a store without hints reaches.
func TestWrongIDHintsFallBackToTheIndex(t *testing.T) {
	v := mustVault(t)
	hinted, plain := mustOpen(t, true), mustOpen(t, true)
	var intents [][]byte // sealed once: a card seals differently each time
	for n := 1; n <= 3; n++ {
		intents = append(intents, IntentCmd(newTxn(t, v, n, TypePurchase, int64(100*n))))
	}
	for _, s := range []*Store{hinted, plain} {
		l := newLog(t, s)
		for _, cmd := range intents {
			l.ok(cmd)
		}
	}
	// Transaction 1's hint names 2's record; 2's a record that does not
	// exist (rolled back with a failed commit).
	hinted.hints[idOf(1)] = hinted.hints[idOf(2)]
	hinted.hints[idOf(2)] = string(seqKey(99))
	clear(plain.hints)
	for _, s := range []*Store{hinted, plain} {
		l := newLog(t, s)
		for n := 1; n <= 3; n++ {
			got := l.ok(OutcomeCmd(Outcome{ID: idOf(n), Status: StatusApproved, RC: "00", AuthCode: "AUTH01", At: testEpoch + 1000}))
			if got.ID != idOf(n) || got.Amount != int64(100*n) || got.Status != StatusApproved {
				t.Fatalf("outcome of %s updated %s (amount %d, status %v)", idOf(n), got.ID, got.Amount, got.Status)
			}
		}
	}
	if string(mustHash(t, hinted)) != string(mustHash(t, plain)) {
		t.Fatal("a store that followed wrong hints differs from one without hints")
	}
}
