package loadtest

import (
	"testing"
	"time"
)

func TestHistogramPercentilesExact(t *testing.T) {
	var h Histogram
	for i := 100; i >= 1; i-- { // 1..100 µs, out of order
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{0, 1}, {1, 1}, {10, 10}, {50, 50}, {90, 90}, {99, 99}, {99.9, 100}, {100, 100},
	} {
		if got := h.Percentile(tc.p); got != tc.want*time.Microsecond {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want*time.Microsecond)
		}
	}
	if h.Count() != 100 || h.Min() != time.Microsecond || h.Max() != 100*time.Microsecond {
		t.Errorf("count %d min %v max %v", h.Count(), h.Min(), h.Max())
	}
	if h.Mean() != 50*time.Microsecond { // 5050/100 truncated
		t.Errorf("mean %v", h.Mean())
	}
}

func TestHistogramLargeValuesExactOnBucketBounds(t *testing.T) {
	var h Histogram
	// 1 ms, 2 ms, 4 ms, ... are bucket bounds: exact.
	vals := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond}
	for _, v := range vals {
		for range 25 {
			h.Record(v)
		}
	}
	for p, want := range map[float64]time.Duration{25: vals[0], 26: vals[1], 50: vals[1], 75: vals[2], 99: vals[3], 100: vals[3]} {
		if got := h.Percentile(p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
}

func TestHistogramRelativeError(t *testing.T) {
	for v := uint64(1); v < 1<<40; v = v*3/2 + 1 {
		low := lowest(bucketOf(v))
		if low > v || float64(v-low) > float64(v)/64 {
			t.Fatalf("value %d in bucket %d with low %d", v, bucketOf(v), low)
		}
		if bucketOf(v) >= numBuckets {
			t.Fatalf("value %d: bucket %d out of range", v, bucketOf(v))
		}
	}
	// Buckets are contiguous and increasing.
	for i := 1; i < numBuckets; i++ {
		if lowest(i) <= lowest(i-1) || bucketOf(lowest(i)) != i {
			t.Fatalf("bucket %d: low %d, previous %d", i, lowest(i), lowest(i-1))
		}
	}
}

func TestHistogramMergeAndEmpty(t *testing.T) {
	var a, b, empty Histogram
	if empty.Percentile(99) != 0 || empty.Mean() != 0 {
		t.Fatal("empty histogram should answer 0")
	}
	for i := 1; i <= 50; i++ {
		a.Record(time.Duration(i) * time.Microsecond)
		b.Record(time.Duration(i+50) * time.Microsecond)
	}
	a.Merge(&b)
	a.Merge(&empty)
	if a.Count() != 100 || a.Percentile(50) != 50*time.Microsecond || a.Percentile(100) != 100*time.Microsecond {
		t.Fatalf("merged: count %d p50 %v p100 %v", a.Count(), a.Percentile(50), a.Percentile(100))
	}
	if n := len(a.Buckets()); n != 100 {
		t.Fatalf("%d buckets, want 100", n)
	}
}
