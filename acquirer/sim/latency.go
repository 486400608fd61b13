package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Latency is the simulated time an acquirer takes to answer, drawn
// uniformly from [Min, Max] for each request; Min == Max is fixed.
type Latency struct {
	Min, Max time.Duration
}

// ParseLatency reads "2ms" (fixed) or "0-5ms" / "1ms-5ms" (a range; a bare
// number before the dash takes the unit after it).
func ParseLatency(s string) (Latency, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	max, err := time.ParseDuration(hi)
	if !isRange {
		max, err = time.ParseDuration(lo)
		lo = ""
	}
	if err != nil {
		return Latency{}, fmt.Errorf("sim: latency %q: %w", s, err)
	}
	min := max
	if isRange {
		if min, err = parseLow(lo, hi); err != nil {
			return Latency{}, fmt.Errorf("sim: latency %q: %w", s, err)
		}
	}
	l := Latency{Min: min, Max: max}
	return l, l.Validate()
}

// parseLow parses the low bound, borrowing the high bound's unit when the
// low bound is a bare number ("0-5ms").
func parseLow(lo, hi string) (time.Duration, error) {
	if d, err := time.ParseDuration(lo); err == nil {
		return d, nil
	}
	unit := strings.TrimLeft(hi, "0123456789.")
	return time.ParseDuration(lo + unit)
}

// Validate reports a negative or inverted range.
func (l Latency) Validate() error {
	if l.Min < 0 || l.Max < l.Min {
		return fmt.Errorf("sim: latency %v-%v: want 0 <= min <= max", l.Min, l.Max)
	}
	return nil
}

// String is the form ParseLatency reads.
func (l Latency) String() string {
	if l.Min == l.Max {
		return l.Min.String()
	}
	return l.Min.String() + "-" + l.Max.String()
}

// draw returns one latency.
func (l Latency) draw() time.Duration {
	if l.Max <= l.Min {
		return l.Min
	}
	return l.Min + rand.N(l.Max-l.Min+1)
}
