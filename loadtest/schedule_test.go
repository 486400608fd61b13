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

// TestDayProfileShape counts the arrivals of a compressed day per hour and
// compares them with the profile's weights.
func TestDayProfileShape(t *testing.T) {
	p := DayProfile()
	const peak, dur = 2000.0, 16 * 10 * time.Second // 10 s an hour
	clk := &fakeClock{t: time.Unix(0, 0)}
	perHour := make([]float64, len(p.Weights))
	n := arrivals(context.Background(), clk, rand.New(rand.NewPCG(3, 4)), p, peak, dur, 0, func() {
		perHour[p.segment(clk.Now().Sub(time.Unix(0, 0)), dur)]++
	})
	var total float64
	for h, got := range perHour {
		want := peak * p.Weights[h] * 10
		if math.Abs(got-want) > 5*math.Sqrt(want)+1 {
			t.Errorf("hour %d: %v arrivals, want %v", h, got, want)
		}
		total += got
	}
	if want := peak * p.MeanFactor() * dur.Seconds(); float64(n) != total || math.Abs(total-want) > 5*math.Sqrt(want) {
		t.Errorf("%d arrivals (%v counted), want %v", n, total, want)
	}
	if p.RateAt(peak, 5*10*time.Second, dur) != peak || p.RateAt(peak, 0, dur) != 0.2*peak || p.RateAt(peak, dur, dur) != 0 {
		t.Error("RateAt does not follow the weights")
	}
}

func TestArrivalsLimitAndIdleSegments(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	p := Profile{Name: "gap", Weights: []float64{1, 0, 1}}
	var inGap int
	n := arrivals(context.Background(), clk, rand.New(rand.NewPCG(5, 6)), p, 1000, 3*time.Second, 0, func() {
		if s := p.segment(clk.Now().Sub(time.Unix(0, 0)), 3*time.Second); s == 1 {
			inGap++
		}
	})
	if inGap != 0 || n < 1800 || n > 2200 {
		t.Errorf("%d arrivals, %d in the idle segment", n, inGap)
	}
	clk = &fakeClock{t: time.Unix(0, 0)}
	if n := arrivals(context.Background(), clk, rand.New(rand.NewPCG(5, 6)), Flat(), 1000, time.Hour, 500, func() {}); n != 500 {
		t.Errorf("limit 500: %d arrivals", n)
	}
}
