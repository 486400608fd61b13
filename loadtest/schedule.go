package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
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

// Profile is a load shape: the relative arrival rate of each of equal
// segments of the run. The largest weight is the peak rate.
type Profile struct {
	Name    string    `json:"name"`
	Weights []float64 `json:"weights"`
}

// Flat is a constant rate.
func Flat() Profile { return Profile{Name: "flat", Weights: []float64{1}} }

// DayProfile is a retail day from 07:00 to 23:00, one segment an hour:
// a morning ramp, the lunch peak (12-13 h), an afternoon dip, the evening
// peak (17-19 h) and the evening tail. Compressed into a run of D, each
// hour lasts D/16.
func DayProfile() Profile {
	return Profile{Name: "day", Weights: []float64{
		0.2, 0.4, 0.6, 0.7, 0.8, 1.0, 0.9, 0.7, 0.6, 0.7, 0.9, 1.0, 0.8, 0.5, 0.3, 0.15}}
}

func (p Profile) validate() error {
	if len(p.Weights) == 0 || slices.Max(p.Weights) <= 0 || slices.Min(p.Weights) < 0 {
		return fmt.Errorf("loadtest: profile %q: weights must be >= 0 with a positive peak", p.Name)
	}
	return nil
}

// MeanFactor is the mean rate over the run divided by the peak rate.
func (p Profile) MeanFactor() float64 {
	var sum float64
	for _, w := range p.Weights {
		sum += w
	}
	return sum / float64(len(p.Weights)) / slices.Max(p.Weights)
}

// RateAt is the arrival rate at elapsed of a run of dur peaking at peak.
func (p Profile) RateAt(peak float64, elapsed, dur time.Duration) float64 {
	seg := p.segment(elapsed, dur)
	if seg < 0 {
		return 0
	}
	return peak * p.Weights[seg] / slices.Max(p.Weights)
}

func (p Profile) segment(elapsed, dur time.Duration) int {
	if elapsed < 0 || elapsed >= dur {
		return -1
	}
	return int(int64(elapsed) * int64(len(p.Weights)) / int64(dur))
}

// arrivals calls fire at the arrivals of a Poisson process whose rate
// follows p (peaking at peak per second) over dur, measured on clk, until
// ctx ends or limit arrivals (0: no limit). Within a segment the rate is
// constant; at a segment boundary the next gap is drawn afresh at the new
// rate (exact, the process being memoryless). Arrivals due at the same
// moment (the scheduler fell behind) fire back to back, so the offered
// rate holds even when sleeps are coarse. It returns the count.
func arrivals(ctx context.Context, clk Clock, rnd *rand.Rand, p Profile, peak float64, dur time.Duration, limit int64, fire func()) int64 {
	start := clk.Now()
	nseg := int64(len(p.Weights))
	next := time.Duration(0)
	var n int64
	for ctx.Err() == nil && (limit <= 0 || n < limit) {
		seg := p.segment(next, dur)
		if seg < 0 {
			return n
		}
		// The first instant of the next segment (rounded up).
		end := time.Duration((int64(seg+1)*int64(dur) + nseg - 1) / nseg)
		rate := p.RateAt(peak, next, dur)
		gap := time.Duration(1<<62 - 1)
		if rate > 0 {
			gap = time.Duration(rnd.ExpFloat64() / rate * float64(time.Second))
		}
		if gap >= end-next {
			next = end // nothing more in this segment
			continue
		}
		next += gap
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

// poisson is arrivals at a constant rate.
func poisson(ctx context.Context, clk Clock, rnd *rand.Rand, rate float64, dur time.Duration, fire func()) int64 {
	return arrivals(ctx, clk, rnd, Flat(), rate, dur, 0, fire)
}
