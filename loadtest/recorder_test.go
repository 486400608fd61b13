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
		rec.End(KindPurchase, OutcomeAnswered, rc, time.Duration(i+1)*10*time.Microsecond) // exact buckets
		now = now.Add(50 * time.Millisecond)
	}
	now = time.Unix(1001, 100e6)
	for _, o := range []string{OutcomeUnknown, OutcomeNotSent, OutcomeError} {
		rec.Begin()
		rec.End(KindRefund, o, "", 120*time.Microsecond)
	}
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
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("purchase=3, refund=1")
	if err != nil || m != (Mix{Purchase: 3, Refund: 1}) {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{"purchase", "purchase=-1", "echo=1", "purchase=0,refund=0"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q): no error", bad)
		}
	}
}
