package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// fleet generates the commands of a register fleet as the node sends them:
// terminals with their own STAN sequences drawn in a fixed pseudo-random
// order (so identities arrive in random order across terminals), ten
// terminals per merchant, RRN and acquirer STAN left to Apply, one
// approved OUTCOME per INTENT a little later in the log. Deterministic:
// the same fleet makes the same log.
type fleet struct {
	tmpl    *Txn
	stans   []int
	rnd     uint64
	index   uint64
	open    []string // INTENTs without their OUTCOME yet, oldest first
	intents int
}

func newFleet(tb testing.TB, terminals int) *fleet {
	return &fleet{tmpl: newTxn(tb, mustVault(tb), 1, TypePurchase, 1234), stans: make([]int, terminals), rnd: 1}
}

// next returns the next n entries: INTENTs and OUTCOMEs alternately, each
// OUTCOME for the oldest open INTENT, as Raft hands them to the FSM under
// steady load.
func (f *fleet) next(n int) ([]uint64, [][]byte) {
	idx, cmds := make([]uint64, 0, n), make([][]byte, 0, n)
	for range n {
		f.index++
		idx = append(idx, f.index)
		if f.index%2 == 0 && len(f.open) > 0 {
			cmds = append(cmds, OutcomeCmd(Outcome{ID: f.open[0], Status: StatusApproved, RC: "00", AuthCode: "123456", At: testEpoch + int64(f.index)*1e6}))
			f.open = f.open[1:]
			continue
		}
		f.rnd = f.rnd*6364136223846793005 + 1442695040888963407 // LCG: no allocation, same on every run
		term := int(f.rnd>>33) % len(f.stans)
		f.stans[term]++
		t := *f.tmpl
		t.TerminalID = fmt.Sprintf("T%07d", term)
		t.MerchantID = fmt.Sprintf("M%014d", term/10)
		t.STAN = stanOf(f.stans[term] % 1000000)
		t.ID = t.TerminalID + t.STAN + t.TransmissionTime
		t.RRN, t.AcqSTAN = "", ""
		t.CreatedAt = testEpoch + int64(f.index)*1e6
		cmds = append(cmds, IntentCmd(&t))
		f.open = append(f.open, t.ID)
		f.intents++
	}
	return idx, cmds
}

// drain returns the OUTCOMEs of every open INTENT.
func (f *fleet) drain() ([]uint64, [][]byte) {
	var idx []uint64
	var cmds [][]byte
	for _, id := range f.open {
		f.index++
		idx = append(idx, f.index)
		cmds = append(cmds, OutcomeCmd(Outcome{ID: id, Status: StatusApproved, RC: "00", AuthCode: "123456", At: testEpoch + int64(f.index)*1e6}))
	}
	f.open = f.open[:0]
	return idx, cmds
}

// apply applies entries and fails on any refusal.
func (f *fleet) apply(tb testing.TB, s *Store, idx []uint64, cmds [][]byte) {
	for i, r := range s.ApplyBatch(idx, cmds) {
		if r := r.(Result); r.Err != nil || r.Existed {
			tb.Fatalf("apply index %d: %+v", idx[i], r)
		}
	}
}

// benchState returns a store holding txns transactions of a fleet of 2,000
// registers (INTENT and OUTCOME each), and the fleet to carry on with. The
// file is built once per size and schema in STORE_BENCH_DIR if set (it
// takes about a minute for 1,000,000), else in the benchmark's temporary
// directory; each benchmark works on a copy.
func benchState(b *testing.B, txns int) (*Store, *fleet) {
	b.Helper()
	f := newFleet(b, 2000)
	build := func(s *Store) {
		for f.intents < txns {
			idx, cmds := f.next(512)
			f.apply(b, s, idx, cmds)
		}
		idx, cmds := f.drain() // close every open INTENT: a quiet state
		f.apply(b, s, idx, cmds)
	}
	path := filepath.Join(b.TempDir(), "state.db")
	if txns == 0 {
		return mustOpenPath(b, path, true), f
	}
	dir := os.Getenv("STORE_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	cached := filepath.Join(dir, "state-"+strconv.Itoa(txns)+"-schema"+schemaVersion+".db")
	if _, err := os.Stat(cached); err != nil {
		s := mustOpenPath(b, cached+".tmp", true)
		build(s)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		os.Remove(cached + ".tmp" + cleanSuffix)
		if err := os.Rename(cached+".tmp", cached); err != nil {
			b.Fatal(err)
		}
	} else {
		// Replay the generator without applying, to carry on where the
		// file ends.
		for f.intents < txns {
			f.next(512)
		}
		f.drain()
	}
	copyFile(b, cached, path)
	if err := writeClean(path + cleanSuffix); err != nil {
		b.Fatal(err)
	}
	return mustOpenPath(b, path, true), f
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	in, err := os.Open(from)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkApplyState is the cost of a transaction (its INTENT and its
// OUTCOME) as the state grows: on an empty file and on files already
// holding 200,000 and 1,000,000 transactions, with Raft batches of 1 to 64
// entries (half INTENTs, half OUTCOMEs), fsync off as the node runs. ns/op
// is per batch; ns/txn, B/txn (bbolt's dirty pages, what a commit writes)
// and commits are the figures to compare.
//
//	STORE_BENCH_DIR=/tmp/sb go test -run '^$' -bench ApplyState -benchtime 20000x ./store
func BenchmarkApplyState(b *testing.B) {
	for _, txns := range []int{0, 200_000, 1_000_000} {
		for _, schema := range []string{schemaVersion, schemaLean} {
			b.Run("state="+strconv.Itoa(txns)+"/schema="+schema, func(b *testing.B) {
				benchApplyState(b, txns, schema)
			})
		}
	}
}

func benchApplyState(b *testing.B, txns int, schema string) {
	s, f := benchState(b, txns)
	if schema == schemaLean {
		f.index++
		f.apply(b, s, []uint64{f.index}, [][]byte{SchemaCmd(schemaLean)})
	}
	for _, batch := range []int{2, 8, 64} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			// Generated up front: Stop/StartTimer per batch reads
			// the memory statistics, which stops the world and
			// costs more than a small batch.
			start := f.intents
			idx, cmds := make([][]uint64, b.N), make([][][]byte, b.N)
			for i := range b.N {
				idx[i], cmds[i] = f.next(batch)
			}
			before, cpu := s.db.Stats().TxStats, cpuTime(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				f.apply(b, s, idx[i], cmds[i])
			}
			b.StopTimer()
			after, n := s.db.Stats().TxStats, float64(f.intents-start)
			// CPU time of the process (GC included): less at the
			// mercy of the other work on a shared box than ns/op.
			b.ReportMetric(float64(cpuTime(b)-cpu)/n, "cpu-ns/txn")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/txn")
			b.ReportMetric(float64(after.GetPageAlloc()-before.GetPageAlloc())/n, "B/txn")
			b.ReportMetric(float64(after.GetPageAlloc()-before.GetPageAlloc())/float64(b.N), "B/commit")
		})
	}
}
