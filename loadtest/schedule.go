package loadtest

import (
	"context"
	"math/rand/v2"
	"time"
)

// Clock is the time source of the open-loop scheduler; tests inject a fake.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// poisson calls fire at the arrivals of a Poisson process of rate per
// second for dur (measured on clk), or until ctx ends. Arrivals due at the
// same moment (the scheduler fell behind) fire back to back, so the
// offered rate holds even when sleeps are coarse. It returns the count.
func poisson(ctx context.Context, clk Clock, rnd *rand.Rand, rate float64, dur time.Duration, fire func()) int64 {
	start := clk.Now()
	next := time.Duration(0)
	var n int64
	for ctx.Err() == nil {
		next += time.Duration(rnd.ExpFloat64() / rate * float64(time.Second))
		if next >= dur {
			return n
		}
		if wait := next - clk.Now().Sub(start); wait > 0 {
			clk.Sleep(ctx, wait)
			if ctx.Err() != nil {
				return n
			}
		}
		fire()
		n++
	}
	return n
}
