package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// dataHash is Hash without the meta bucket, whose applied index moves with
// every command, even one that changes nothing else.
func dataHash(tb testing.TB, s *Store) []byte {
	tb.Helper()
	h := sha256.New()
	err := s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if bytes.Equal(name, bucketMeta) {
				return nil
			}
			writeField(h, name)
			return b.ForEach(func(k, v []byte) error { writeField(h, k); writeField(h, v); return nil })
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return h.Sum(nil)
}

func reversalOwed(n int) SAFEntry {
	return SAFEntry{Acquirer: "acq1", Kind: SAFReversal, STAN: stanOf(900000 + n), AcqTime: "1122120005"}
}

func adviceOwed(n int) SAFEntry {
	return SAFEntry{Acquirer: "acq1", Kind: SAFAdvice, STAN: stanOf(800000 + n), AcqTime: "1122120006"}
}

func mustQueue(tb testing.TB, s *Store, acq string) []SAFEntry {
	tb.Helper()
	q, err := s.SAFQueue(acq, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

func TestUnknownOutcomeEnqueuesReversal(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	tx := newTxn(t, v, 1, TypePurchase, 1234)
	l.ok(IntentCmd(tx))
	at := tx.CreatedAt + 5
	got := l.ok(OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: at}, reversalOwed(1)))
	if got.Status != StatusUnknown || got.RC != "91" {
		t.Fatalf("outcome stored %v %s", got.Status, got.RC)
	}
	want := []SAFEntry{{Acquirer: "acq1", Seq: 1, Kind: SAFReversal, TxnID: tx.ID, STAN: stanOf(900001), AcqTime: "1122120005", Amount: 1234, CreatedAt: at}}
	if q := mustQueue(t, s, "acq1"); !reflect.DeepEqual(q, want) {
		t.Fatalf("queue %+v, want %+v", q, want)
	}
	// The same OUTCOME again (a replay by a new active) owes nothing more.
	l.ok(OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: at + 1}, reversalOwed(2)))
	if q := mustQueue(t, s, "acq1"); len(q) != 1 {
		t.Fatalf("repeated outcome enqueued again: %+v", q)
	}
	st, _ := s.SAFStats()
	if st["acq1"] != (SAFStat{Depth: 1, Oldest: at}) {
		t.Fatalf("stats %+v", st)
	}
	// The acknowledgement removes it and reverses the transaction; a
	// second acknowledgement changes nothing.
	before := dataHash(t, s)
	if r := l.ok(SAFAckCmd(SAFAck{Acquirer: "acq1", Seq: 1, At: at + 10})); r.Status != StatusReversed {
		t.Fatalf("after ack: %v", r.Status)
	}
	if q := mustQueue(t, s, "acq1"); len(q) != 0 {
		t.Fatalf("acknowledged entry still queued: %+v", q)
	}
	after := dataHash(t, s)
	if r := l.apply(SAFAckCmd(SAFAck{Acquirer: "acq1", Seq: 1, At: at + 20})); r.Err != nil || r.Txn != nil {
		t.Fatalf("second ack: %+v", r)
	}
	if bytes.Equal(before, after) || !bytes.Equal(after, dataHash(t, s)) {
		t.Fatal("hash: the ack changed nothing, or the second ack changed something")
	}
	if tot, _ := s.Totals(); len(tot.Net) != 0 {
		t.Fatalf("a reversed unknown counts: %v", tot.Net)
	}
}

func TestStandInAdviceCounts(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	var hash []byte
	for n := 1; n <= 3; n++ {
		tx := newTxn(t, v, n, TypePurchase, int64(100*n))
		hash = tx.PANHash
		l.ok(IntentCmd(tx))
		got := l.ok(OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", AuthCode: "S00001", StandIn: true, At: tx.CreatedAt + 1}, adviceOwed(n)))
		if !got.StandIn || got.Status != StatusApproved {
			t.Fatalf("stand-in stored as %+v", got)
		}
	}
	if card, _ := s.StandInCard(testDay, hash); card != (Sum{Count: 3, Amount: 600}) {
		t.Fatalf("card velocity %+v", card)
	}
	if open, _ := s.StandInOpen("acq1"); open != (Sum{Count: 3, Amount: 600}) {
		t.Fatalf("open stand-in %+v", open)
	}
	q := mustQueue(t, s, "acq1")
	if len(q) != 3 || q[0].Seq != 1 || q[2].Seq != 3 || q[1].Kind != SAFAdvice {
		t.Fatalf("queue %+v", q)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if r := l.ok(SAFAckCmd(SAFAck{Acquirer: "acq1", Seq: seq, At: testEpoch + 100})); r.Status != StatusApproved {
			t.Fatalf("an acknowledged advice changed its transaction: %v", r.Status)
		}
	}
	if open, _ := s.StandInOpen("acq1"); open != (Sum{}) {
		t.Fatalf("open stand-in after acks %+v", open)
	}
	// Velocity is per business day and stays after the acks.
	if card, _ := s.StandInCard(testDay, hash); card.Count != 3 {
		t.Fatalf("card velocity after acks %+v", card)
	}
	if tot, _ := s.Totals(); tot.Net["purchase"] != (Sum{Count: 3, Amount: 600}) {
		t.Fatalf("totals %v", tot.Net)
	}
}

func TestInvalidSAFCommandsChangeNothing(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	tx := newTxn(t, v, 1, TypePurchase, 500)
	l.ok(IntentCmd(tx))
	before := dataHash(t, s)
	bad := func(mut func(*SAFEntry)) SAFEntry { e := reversalOwed(1); mut(&e); return e }
	cmds := map[string][]byte{
		"no acquirer":       OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: 1}, bad(func(e *SAFEntry) { e.Acquirer = "" })),
		"separator in name": OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: 1}, bad(func(e *SAFEntry) { e.Acquirer = "a|b" })),
		"kind":              OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: 1}, bad(func(e *SAFEntry) { e.Kind = 9 })),
		"short stan":        OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: 1}, bad(func(e *SAFEntry) { e.STAN = "1" })),
		"reversal approved": OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", AuthCode: "", StandIn: false, At: 1}, reversalOwed(1)),
		"advice declined":   OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusDeclined, RC: "05", AuthCode: "", StandIn: true, At: 1}, adviceOwed(1)),
		"advice no standin": OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", AuthCode: "", StandIn: false, At: 1}, adviceOwed(1)),
		"ack bad acquirer":  SAFAckCmd(SAFAck{Acquirer: "", Seq: 1, At: 1}),
	}
	for name, cmd := range cmds {
		if r := l.apply(cmd); !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, r.Err)
		}
	}
	if r := l.apply(OutcomeSAFCmd(Outcome{ID: idOf(77), Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: 1}, reversalOwed(1))); !errors.Is(r.Err, ErrNotFound) {
		t.Errorf("unknown id: %v", r.Err)
	}
	if r := l.apply(SAFAckCmd(SAFAck{Acquirer: "acq1", Seq: 99, At: 1})); r.Err != nil {
		t.Errorf("ack of nothing: %v", r.Err)
	}
	if !bytes.Equal(before, dataHash(t, s)) {
		t.Fatal("refused commands changed the state")
	}
	for _, cmd := range cmds {
		if _, err := DecodeCommand(cmd[:len(cmd)-1]); err == nil {
			t.Fatal("truncated SAF command decoded")
		}
	}
}

// safLog is a random history of unknowns, stand-ins, plain answers and
// acknowledgements (some of them repeated).
func safLog(tb testing.TB, v *Vault, seed uint64, n int) ([]uint64, [][]byte) {
	rng := rand.New(rand.NewPCG(seed, seed))
	var cmds [][]byte
	owed := uint64(0)
	for i := 1; i <= n; i++ {
		tx := newTxn(tb, v, i, TypePurchase, int64(1+rng.IntN(10000)))
		cmds = append(cmds, IntentCmd(tx))
		switch rng.IntN(4) {
		case 0:
			cmds = append(cmds, OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: tx.CreatedAt + 1}, reversalOwed(i)))
			owed++
		case 1:
			cmds = append(cmds, OutcomeSAFCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", AuthCode: "S12345", StandIn: true, At: tx.CreatedAt + 1}, adviceOwed(i)))
			owed++
		default:
			cmds = append(cmds, OutcomeCmd(Outcome{ID: tx.ID, Status: StatusApproved, RC: "00", AuthCode: "123456", StandIn: false, At: tx.CreatedAt + 1}))
		}
		if owed > 0 && rng.IntN(3) == 0 {
			cmds = append(cmds, SAFAckCmd(SAFAck{Acquirer: "acq1", Seq: 1 + rng.Uint64N(owed), At: tx.CreatedAt + 2}))
		}
	}
	idx := make([]uint64, len(cmds))
	for i := range idx {
		idx[i] = uint64(i + 1)
	}
	return idx, cmds
}

func TestSAFReplicasConvergeAndReplay(t *testing.T) {
	v := mustVault(t)
	idx, cmds := safLog(t, v, 5, 300)
	a := mustOpen(t, true)
	a.ApplyBatch(idx, cmds)
	b := mustOpen(t, true)
	for i := 0; i < len(cmds); i += 17 {
		j := min(i+17, len(cmds))
		b.ApplyBatch(idx[i:j], cmds[i:j])
	}
	// A replay of the whole log (Raft after a restart) changes nothing.
	b.ApplyBatch(idx, cmds)
	if !bytes.Equal(mustHash(t, a), mustHash(t, b)) {
		t.Fatal("replicas differ")
	}
	qa, qb := mustQueue(t, a, "acq1"), mustQueue(t, b, "acq1")
	if !reflect.DeepEqual(qa, qb) || len(qa) == 0 {
		t.Fatalf("queues differ or empty: %d vs %d", len(qa), len(qb))
	}
	for i := 1; i < len(qa); i++ {
		if qa[i].Seq <= qa[i-1].Seq {
			t.Fatalf("queue out of order at %d", i)
		}
	}
}

func TestSnapshotIncludesSAF(t *testing.T) {
	v := mustVault(t)
	idx, cmds := safLog(t, v, 9, 120)
	src := mustOpen(t, false)
	src.ApplyBatch(idx, cmds)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dst := mustOpen(t, false)
	if err := dst.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mustQueue(t, src, "acq1"), mustQueue(t, dst, "acq1")) || len(mustQueue(t, dst, "acq1")) == 0 {
		t.Fatal("restored queue differs from the snapshot's")
	}
	so, _ := src.StandInOpen("acq1")
	do, _ := dst.StandInOpen("acq1")
	if so != do || !bytes.Equal(mustHash(t, src), mustHash(t, dst)) {
		t.Fatalf("restored state differs: open %v vs %v", so, do)
	}
	// The restored queue carries on with the next sequence number.
	next := newTxn(t, v, 5000, TypePurchase, 1)
	l := &logApplier{tb: t, s: dst, next: dst.AppliedIndex() + 1}
	l.ok(IntentCmd(next))
	l.ok(OutcomeSAFCmd(Outcome{ID: next.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: next.CreatedAt}, reversalOwed(5000)))
	q := mustQueue(t, dst, "acq1")
	seqs, _ := src.SAFQueue("acq1", 0, 0)
	if q[len(q)-1].Seq <= seqs[len(seqs)-1].Seq {
		t.Fatalf("sequence reused after restore: %d", q[len(q)-1].Seq)
	}
}

// A version 1 file (before the SAF buckets) upgrades in place on Open.
