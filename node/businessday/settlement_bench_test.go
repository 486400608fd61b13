package businessday

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/store"
)

// settledDay is a store holding day 20261201 of rows approved purchases,
// settled.
func settledDay(tb testing.TB, rows int) (*store.Store, *store.Day) {
	tb.Helper()
	s, err := store.Open(filepath.Join(tb.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	var index uint64
	apply := func(cmds ...[]byte) {
		idx := make([]uint64, len(cmds))
		for i := range cmds {
			index++
			idx[i] = index
		}
		for _, r := range s.ApplyBatch(idx, cmds) {
			if r, ok := r.(store.Result); !ok || r.Err != nil {
				tb.Fatalf("apply: %+v", r)
			}
		}
	}
	const day, at = "20261201", int64(1_796_000_000_000_000_000)
	apply(store.CutoverCmd("", day, store.ByOperator, at))
	for i := 0; i < rows; i += 500 {
		var cmds [][]byte
		for j := i; j < min(i+500, rows); j++ {
			term, stan := fmt.Sprintf("T%07d", j%2000), fmt.Sprintf("%06d", j/2000+1)
			t := &store.Txn{ID: term + stan + "1201120000", Type: store.TypePurchase, MTI: "0200", ProcCode: "000000",
				Amount: int64(100 + j), Currency: "978", TerminalID: term, MerchantID: "MERCHANT0000001", STAN: stan,
				TransmissionTime: "1201120000", Acquirer: "acq", AcqSTAN: stan, AcqTime: "1201120000",
				RRN: fmt.Sprintf("%012d", j), CreatedAt: at + int64(j)}
			cmds = append(cmds, store.IntentCmd(t), store.OutcomeCmd(store.Outcome{ID: t.ID, Status: store.StatusApproved, RC: "00", AuthCode: "123456", StandIn: false, At: at + int64(j)}))
		}
		apply(cmds...)
	}
	apply(store.CutoverCmd(day, "20261202", store.ByOperator, at+1e12))
	apply(store.SettleCmd(day, at+1e12))
	d, err := s.Day(day)
	if err != nil {
		tb.Fatal(err)
	}
	return s, d
}

// BenchmarkRenderDay renders the settlement files of a settled day of
// 50,000 approved purchases: what the active does once per day and any
// node per file request. ns/op is per day; ns/row per transaction.
func BenchmarkRenderDay(b *testing.B) {
	const rows = 50000
	s, d := settledDay(b, rows)
	svc := New(Options{State: s, Acquirers: []string{"acq"}, Registerer: prometheus.NewRegistry()})
	dir := b.TempDir()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		files, err := svc.Render(context.Background(), d, dir, "")
		if err != nil || files["acq"].Trailer.Rows != rows {
			b.Fatalf("render: %v", err)
		}
		files["acq"].Remove()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
