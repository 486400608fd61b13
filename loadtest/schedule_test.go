package loadtest

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// fakeClock advances only when slept on.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time                           { return c.t }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) { c.t = c.t.Add(d) }

func TestPoissonArrivalRate(t *testing.T) {
	for _, rate := range []float64{50, 1000, 20000} {
		clk := &fakeClock{t: time.Unix(0, 0)}
		var fired int64
		var lastGap, maxGap time.Duration
		prev := clk.Now()
		n := poisson(context.Background(), clk, rand.New(rand.NewPCG(1, uint64(rate))), rate, 10*time.Second, func() {
			fired++
			lastGap = clk.Now().Sub(prev)
			maxGap = max(maxGap, lastGap)
			prev = clk.Now()
		})
		want := rate * 10
		// A Poisson count has sd sqrt(want); allow 5 sd.
		if n != fired || math.Abs(float64(n)-want) > 5*math.Sqrt(want) {
			t.Errorf("rate %v: %d arrivals in 10 s (fired %d), want %v ± %v", rate, n, fired, want, 5*math.Sqrt(want))
		}
		if clk.Now().Sub(time.Unix(0, 0)) > 10*time.Second {
			t.Errorf("rate %v: ran past the duration", rate)
		}
		if maxGap == 0 {
			t.Errorf("rate %v: no gaps between arrivals", rate)
		}
	}
}

func TestPoissonStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := &fakeClock{t: time.Unix(0, 0)}
	n := poisson(ctx, clk, rand.New(rand.NewPCG(1, 2)), 100, time.Hour, func() { cancel() })
	if n != 1 {
		t.Fatalf("%d arrivals after cancel, want 1", n)
	}
}
