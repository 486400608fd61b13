package admin

import (
	"math"
	"sort"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// metricSample is what the sampler keeps of the registry once a second.
type metricSample struct {
	at       time.Time
	tx       float64 // answered transactions
	declined float64 // of which not approved
	hist     map[string]histSnap
}

// histSnap is one histogram's cumulative bucket counts.
type histSnap struct {
	bounds []float64 // upper bounds, +Inf excluded
	counts []uint64  // cumulative count per bound
	total  uint64
}

// gathered is one read of the families the page uses, by name.
type gathered map[string][]series

// series is one labelled series of a counter, gauge or histogram.
type series struct {
	labels map[string]string
	value  float64   // counter or gauge
	hist   *histSnap // histogram
}

var pageFamilies = map[string]bool{
	txMetric: true, relayedMetric: true, inflightMetric: true, unansMetric: true,
	latencyMetric: true, acquirerMetric: true, commitMetric: true,
}

// gather reads the node's registry (the same figures /metrics serves) and
// keeps the families the page shows.
func (p *StatusPage) gather() gathered {
	fams, _ := p.gatherer.Gather() // partial results are still useful
	g := gathered{}
	for _, f := range fams {
		if !pageFamilies[f.GetName()] {
			continue
		}
		var ss []series
		for _, m := range f.GetMetric() {
			sr := series{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				sr.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Histogram != nil:
				h := histSnap{total: m.GetHistogram().GetSampleCount()}
				for _, b := range m.GetHistogram().GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) {
						h.bounds = append(h.bounds, b.GetUpperBound())
						h.counts = append(h.counts, b.GetCumulativeCount())
					}
				}
				sr.hist = &h
			case m.Counter != nil:
				sr.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				sr.value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				sr.value = m.GetUntyped().GetValue()
			}
			ss = append(ss, sr)
		}
		g[f.GetName()] = ss
	}
	return g
}

// transactions sums tillgate_transactions_total, and the part whose RC is
// not 00.
func (g gathered) transactions() (total, declined float64) {
	for _, sr := range g[txMetric] {
		total += sr.value
		if rc, ok := sr.labels["rc"]; ok && rc != wire.RCApproved {
			declined += sr.value
		}
	}
	return total, declined
}

// sum adds up every series of a counter or gauge family; by, when set, also
// returns the values by that label.
func (g gathered) sum(name, by string) (float64, map[string]float64) {
	var total float64
	var parts map[string]float64
	for _, sr := range g[name] {
		total += sr.value
		if v, ok := sr.labels[by]; by != "" && ok {
			if parts == nil {
				parts = map[string]float64{}
			}
			parts[v] += sr.value
		}
	}
	return total, parts
}

// histogram reads a histogram family, adding up its series.
func (g gathered) histogram(name string) (histSnap, bool) {
	var h histSnap
	found := false
	for _, sr := range g[name] {
		if sr.hist == nil {
			continue
		}
		if !found {
			h = histSnap{bounds: sr.hist.bounds, counts: append([]uint64(nil), sr.hist.counts...), total: sr.hist.total}
			found = true
			continue
		}
		if len(sr.hist.counts) != len(h.counts) {
			continue
		}
		h.total += sr.hist.total
		for i, c := range sr.hist.counts {
			h.counts[i] += c
		}
	}
	return h, found
}

// minus is the histogram of the observations between old and h.
func (h histSnap) minus(old histSnap) histSnap {
	if len(old.counts) != len(h.counts) || old.total > h.total {
		return h
	}
	d := histSnap{bounds: h.bounds, counts: make([]uint64, len(h.counts)), total: h.total - old.total}
	for i := range h.counts {
		d.counts[i] = h.counts[i] - old.counts[i]
	}
	return d
}

// quantile estimates the q-quantile in seconds the way Prometheus's
// histogram_quantile does: linear within the bucket that holds it. Beyond
// the last finite bound the answer is that bound.
func (h histSnap) quantile(q float64) float64 {
	if h.total == 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * float64(h.total)
	i := sort.Search(len(h.counts), func(i int) bool { return float64(h.counts[i]) >= rank })
	if i == len(h.counts) {
		return h.bounds[len(h.bounds)-1]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.bounds[i-1], float64(h.counts[i-1])
	}
	in := float64(h.counts[i]) - below
	if in <= 0 {
		return h.bounds[i]
	}
	return lo + (h.bounds[i]-lo)*(rank-below)/in
}

// takeSampleFrom is a sample of a registry read already made.
func takeSampleFrom(g gathered, at time.Time) (metricSample, bool) {
	tx, declined := g.transactions()
	smp := metricSample{at: at, tx: tx, declined: declined, hist: map[string]histSnap{}}
	for _, name := range []string{latencyMetric, acquirerMetric, commitMetric} {
		if h, ok := g.histogram(name); ok {
			smp.hist[name] = h
		}
	}
	return smp, len(g) > 0
}
