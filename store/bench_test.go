package store

import (
	"testing"
)

// BenchmarkApplyBatch applies batches of 256 new INTENTs, fsync on, as the
// FSM does under load: one bbolt commit per batch. ns/op is per batch;
// ns/entry per INTENT.
func BenchmarkApplyBatch(b *testing.B) {
	const batch = 256
	v := mustVault(b)
	s := mustOpen(b, false)
	tmpl := newTxn(b, v, 1, TypePurchase, 1234)
	idx := make([]uint64, batch)
	cmds := make([][]byte, batch)
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for j := range batch {
			next++
			t := *tmpl
			t.STAN = stanOf(next % 1000000)
			t.TerminalID = "T" + stanOf(next/1000000) + "0"
			t.ID = t.TerminalID + t.STAN + t.TransmissionTime
			t.RRN = "0001" + stanOf(next) + "00"
			t.CreatedAt = testEpoch + int64(next)
			idx[j], cmds[j] = uint64(next), IntentCmd(&t)
		}
		b.StartTimer()
		res := s.ApplyBatch(idx, cmds)
		if r := res[batch-1].(Result); r.Err != nil || r.Existed {
			b.Fatalf("apply: %+v", r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(next), "ns/entry")
}
