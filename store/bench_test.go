package store

import (
	"fmt"
	"math/rand/v2"
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

// BenchmarkApplyRegisters is the write pattern of a register fleet: 2,000
// terminals, each with its own STAN sequence, so identities arrive in
// random order across terminals; every batch holds 256 INTENTs and the 256
// OUTCOMEs of the batch before, as Raft hands them to the FSM under load.
// fsync is off, so the figure is CPU and page writes, not the disk.
func BenchmarkApplyRegisters(b *testing.B) {
	const batch, terminals = 256, 2000
	v := mustVault(b)
	s := mustOpen(b, true)
	tmpl := newTxn(b, v, 1, TypePurchase, 1234)
	rnd := rand.New(rand.NewPCG(1, 2))
	stans := make([]int, terminals)
	var prev []string
	var index uint64
	entries := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var idx []uint64
		var cmds [][]byte
		for _, id := range prev {
			index++
			idx, cmds = append(idx, index), append(cmds, OutcomeCmd(Outcome{ID: id, Status: StatusApproved, RC: "00", AuthCode: "123456", StandIn: false, At: testEpoch}))
		}
		prev = prev[:0]
		for range batch {
			term := rnd.IntN(terminals)
			stans[term]++
			t := *tmpl
			t.TerminalID = fmt.Sprintf("T%07d", term)
			t.STAN = stanOf(stans[term] % 1000000)
			t.ID = t.TerminalID + t.STAN + t.TransmissionTime
			index++
			t.RRN = fmt.Sprintf("%012d", index)
			t.CreatedAt = testEpoch + int64(index)
			idx, cmds = append(idx, index), append(cmds, IntentCmd(&t))
			prev = append(prev, t.ID)
		}
		entries += len(cmds)
		b.StartTimer()
		for i, r := range s.ApplyBatch(idx, cmds) {
			if r := r.(Result); r.Err != nil || r.Existed {
				b.Fatalf("apply %d: %+v", i, r)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries), "ns/entry")
}
