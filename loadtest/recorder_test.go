package loadtest

import (
	"testing"
	"time"
)

func TestRecorderWindowsAndCounts(t *testing.T) {
	now := time.Unix(1000, 0)
	rec := NewRecorder(func() time.Time { return now })
	// Second 0: 10 answers (9 approved, 1 declined); second 1: 3 errors.
	for i := range 10 {
		rec.Begin()
		rc := "00"
		if i == 9 {
			rc = "51"
		}
		rec.End(Result{Kind: KindPurchase, Outcome: OutcomeAnswered, RC: rc, Latency: time.Duration(i+1) * 10 * time.Microsecond, Acquirer: 5 * time.Microsecond}) // exact buckets
		now = now.Add(50 * time.Millisecond)
	}
	now = time.Unix(1001, 100e6)
	for _, o := range []string{OutcomeUnknown, OutcomeNotSent, OutcomeError} {
		rec.Begin()
		rec.End(Result{Kind: KindRefund, Outcome: o, Latency: 120 * time.Microsecond})
	}
	rec.Offer(false)
	rec.Offer(true)
	rec.Begin() // one left in flight
	s := rec.Snapshot()
	if s.TxPerSec != 10 || s.P99 != 100*time.Microsecond || s.InFlight != 1 || s.Completed != 13 {
		t.Fatalf("snapshot %+v", s)
	}
	if s.Errors != 3 || s.Unknown != 1 || s.NotSent != 1 {
		t.Fatalf("errors in snapshot %+v", s)
	}
	now = time.Unix(1002, 500e6)
	sum := rec.Summary()
	if sum.ByRC["00"] != 9 || sum.ByRC["51"] != 1 || sum.ByKind[KindRefund] != 3 || sum.Completed != 13 {
		t.Fatalf("summary %+v", sum)
	}
	if len(sum.Timeline) != 2 || sum.Timeline[0].Count != 10 || sum.Timeline[1].Count != 3 {
		t.Fatalf("timeline %+v", sum.Timeline)
	}
	if sum.Duration != 2500*time.Millisecond || sum.Throughput != 13/2.5 {
		t.Fatalf("duration %v throughput %v", sum.Duration, sum.Throughput)
	}
	if sum.Latency.P50 != 70*time.Microsecond { // rank 7 of 10..100 µs, 120 ×3
		t.Fatalf("p50 %v", sum.Latency.P50)
	}
	// Added latency: answered only, minus the 5 µs the node reported.
	if a := sum.Added; a.Count != 10 || a.Min != 5*time.Microsecond || a.Max != 95*time.Microsecond || a.P50 != 45*time.Microsecond {
		t.Fatalf("added latency %+v", a)
	}
	if sum.Offered != 2 || sum.Dropped != 1 || sum.Timeline[1].Offered != 2 || sum.Timeline[0].Offered != 0 {
		t.Fatalf("offered %d dropped %d, timeline %+v", sum.Offered, sum.Dropped, sum.Timeline)
	}
	if sum.Acquirer.Count != 10 || sum.Timeline[1].Errors != 3 {
		t.Fatalf("acquirer %+v, window errors %d", sum.Acquirer, sum.Timeline[1].Errors)
	}
}

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mix
	}{
		{"purchase=3, refund=1", Mix{Purchase: 3, Refund: 1}},
		{"purchase=80,refund=5,preauth=5,completion=5,reversal=2,echo=3", DefaultMix()},
		{"echo=1", Mix{Echo: 1}},
	} {
		m, err := ParseMix(tc.in)
		if err != nil || m != tc.want {
			t.Errorf("ParseMix(%q) = %+v, %v; want %+v", tc.in, m, err, tc.want)
		}
		if back, err := ParseMix(m.String()); err != nil || back != m {
			t.Errorf("round trip of %q: %+v %v", m.String(), back, err)
		}
	}
	for _, bad := range []string{"purchase", "purchase=-1", "cashback=1", "purchase=0,refund=0"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q): no error", bad)
		}
	}
}

func TestPeakThroughput(t *testing.T) {
	tl := []Window{{Count: 1}, {Count: 10}, {Count: 20}, {Count: 3}}
	for _, tc := range []struct {
		n    int
		want float64
	}{{1, 20}, {2, 15}, {4, 8.5}, {10, 8.5}} {
		if got := peak(tl, tc.n); got != tc.want {
			t.Errorf("peak over %d = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestFaultResume(t *testing.T) {
	now := time.Unix(1000, 0)
	rec := NewRecorder(func() time.Time { return now })
	answer := func(reg int, node string) {
		rec.Begin()
		rec.End(Result{Register: reg, Kind: KindPurchase, Outcome: OutcomeAnswered, RC: "00", Node: node})
	}
	answer(0, "node1")
	answer(1, "node1")
	answer(2, "node1")
	now = now.Add(time.Second)
	id := rec.FaultStart("kill", "node1")
	now = now.Add(10 * time.Millisecond)
	answer(0, "node1") // an old answer of the killed node: not a resume
	now = now.Add(990 * time.Millisecond)
	answer(0, "node2") // 1 s
	now = now.Add(time.Second)
	answer(1, "node2") // 2 s
	rec.FaultBack(id)
	now = now.Add(time.Second)
	answer(1, "node1") // already resumed
	answer(2, "node1") // 3 s: node1 is back
	f := rec.Summary().Faults
	if len(f) != 1 {
		t.Fatalf("faults %+v", f)
	}
	want := FaultResult{Kind: "kill", Node: "node1", At: time.Second, Back: 3 * time.Second, Resumed: 3, Registers: 3,
		First: time.Second, P50: 2 * time.Second, P99: 3 * time.Second, Max: 3 * time.Second}
	if f[0] != want {
		t.Fatalf("fault\n got %+v\nwant %+v", f[0], want)
	}
}
