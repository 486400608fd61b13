package acquirer

import (
	"fmt"
	"sort"
)

// Route sends the cards whose BIN prefix lies in [Low, High] to Acquirer.
// Low and High have the same number of digits (1-11); the prefix of that
// length of the PAN is compared, so Route{"4", "4", "visa"} takes every PAN
// starting with 4 and Route{"510000", "559999", "mc"} a six-digit range.
type Route struct {
	Low, High string
	Acquirer  string
}

// Router picks an acquirer for a PAN. The zero value routes everything to
// "". Safe for concurrent use (immutable after NewRouter).
type Router struct {
	routes []Route // longest prefix first, then in the order given
	def    string
}

// NewRouter validates routes. Where ranges overlap the longer prefix wins
// (a specific range carves out of a broad one); at equal length the first
// route given wins. def is the acquirer of cards no route matches.
func NewRouter(routes []Route, def string) (*Router, error) {
	rs := append([]Route(nil), routes...)
	for i, r := range rs {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("acquirer: route %d: %w", i, err)
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].Low) > len(rs[j].Low) })
	return &Router{routes: rs, def: def}, nil
}

func (r Route) validate() error {
	switch {
	case r.Acquirer == "":
		return fmt.Errorf("%s-%s: no acquirer", r.Low, r.High)
	case len(r.Low) == 0 || len(r.Low) > 11 || !digits(r.Low) || !digits(r.High):
		return fmt.Errorf("%q-%q: bounds must be 1-11 digits", r.Low, r.High)
	case len(r.Low) != len(r.High):
		return fmt.Errorf("%s-%s: bounds of different lengths", r.Low, r.High)
	case r.Low > r.High:
		return fmt.Errorf("%s-%s: low above high", r.Low, r.High)
	}
	return nil
}

// Lookup returns the acquirer for pan, or the default.
func (r *Router) Lookup(pan string) string {
	if r == nil {
		return ""
	}
	for _, rt := range r.routes {
		n := len(rt.Low)
		if len(pan) < n {
			continue
		}
		if p := pan[:n]; p >= rt.Low && p <= rt.High {
			return rt.Acquirer
		}
	}
	return r.def
}

// Default is the acquirer of unrouted cards.
func (r *Router) Default() string {
	if r == nil {
		return ""
	}
	return r.def
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
