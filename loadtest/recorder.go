package loadtest

import (
	"sort"
	"sync"
	"time"
)

// Outcome classes of one transaction besides a response code.
const (
	OutcomeAnswered = "answered"
	OutcomeUnknown  = "unknown"  // failover.ErrOutcomeUnknown: a reversal was queued
	OutcomeNotSent  = "not_sent" // failover.ErrNotSent
	OutcomeError    = "error"    // anything else
)

// Recorder collects the results of a run. It is safe for concurrent use.
type Recorder struct {
	now   func() time.Time
	start time.Time

	mu       sync.Mutex
	all      Histogram
	byRC     map[string]int64
	byKind   map[string]int64
	outcomes map[string]int64
	inFlight int64
	offered  int64
	dropped  int64
	// The current one-second window and the last full one.
	winStart time.Time
	win      Histogram
	last     Window
	timeline []Window
}

// Window is one second of a run.
type Window struct {
	Second int           `json:"second"` // since the start
	Count  int64         `json:"count"`
	P50    time.Duration `json:"p50_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
}

// NewRecorder starts recording at now(); nil means time.Now.
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &Recorder{now: now, start: t, winStart: t, byRC: map[string]int64{},
		byKind: map[string]int64{}, outcomes: map[string]int64{}}
}

// Offer counts an arrival; dropped means no register was free to take it
// (open loop only).
func (r *Recorder) Offer(dropped bool) {
	r.mu.Lock()
	r.offered++
	if dropped {
		r.dropped++
	}
	r.mu.Unlock()
}

// Begin marks a transaction in flight.
func (r *Recorder) Begin() {
	r.mu.Lock()
	r.inFlight++
	r.mu.Unlock()
}

// End records a finished transaction: rc is its response code when
// outcome is OutcomeAnswered.
func (r *Recorder) End(kind, outcome, rc string, latency time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight--
	r.roll(r.now())
	r.byKind[kind]++
	r.outcomes[outcome]++
	if outcome == OutcomeAnswered {
		r.byRC[rc]++
	}
	r.all.Record(latency)
	r.win.Record(latency)
}

// roll closes the current window if t is past it.
func (r *Recorder) roll(t time.Time) {
	for t.Sub(r.winStart) >= time.Second {
		w := Window{Second: int(r.winStart.Sub(r.start) / time.Second), Count: r.win.Count(),
			P50: r.win.Percentile(50), P99: r.win.Percentile(99), Max: r.win.Max()}
		r.last = w
		r.timeline = append(r.timeline, w)
		r.win = Histogram{}
		r.winStart = r.winStart.Add(time.Second)
	}
}

// Snapshot is the live state of a run.
type Snapshot struct {
	Elapsed   time.Duration
	Completed int64
	TxPerSec  float64       // over the last full second
	P99       time.Duration // over the last full second
	InFlight  int64
	Errors    int64 // unknown + not sent + other errors
	Unknown   int64
	NotSent   int64
	Dropped   int64
}

// Snapshot returns the live progress.
func (r *Recorder) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	r.roll(t)
	return Snapshot{
		Elapsed: t.Sub(r.start), Completed: r.all.Count(), TxPerSec: float64(r.last.Count),
		P99: r.last.P99, InFlight: r.inFlight, Errors: r.errors(),
		Unknown: r.outcomes[OutcomeUnknown], NotSent: r.outcomes[OutcomeNotSent], Dropped: r.dropped,
	}
}

func (r *Recorder) errors() int64 {
	return r.outcomes[OutcomeUnknown] + r.outcomes[OutcomeNotSent] + r.outcomes[OutcomeError]
}

// Summary is the end result of a run, ready for JSON.
type Summary struct {
	Duration   time.Duration    `json:"duration_ns"`
	Completed  int64            `json:"completed"`
	Offered    int64            `json:"offered,omitempty"`
	Dropped    int64            `json:"dropped,omitempty"`
	Throughput float64          `json:"throughput_tx_per_s"`
	Latency    Latency          `json:"latency"`
	ByRC       map[string]int64 `json:"by_rc"`
	ByKind     map[string]int64 `json:"by_kind"`
	Unknown    int64            `json:"unknown"`
	NotSent    int64            `json:"not_sent"`
	Errors     int64            `json:"errors"` // unknown + not sent + other
	Timeline   []Window         `json:"timeline"`
	Histogram  []Bucket         `json:"histogram"`
}

// Latency are the percentiles of every transaction's latency.
type Latency struct {
	Min  time.Duration `json:"min_ns"`
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// Summary returns the totals so far.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	r.roll(t)
	d := t.Sub(r.start)
	s := Summary{
		Duration: d, Completed: r.all.Count(), Offered: r.offered, Dropped: r.dropped,
		Latency: Latency{Min: r.all.Min(), Mean: r.all.Mean(), P50: r.all.Percentile(50),
			P90: r.all.Percentile(90), P99: r.all.Percentile(99), P999: r.all.Percentile(99.9), Max: r.all.Max()},
		ByRC: copyMap(r.byRC), ByKind: copyMap(r.byKind), Unknown: r.outcomes[OutcomeUnknown],
		NotSent: r.outcomes[OutcomeNotSent], Errors: r.errors(),
		Timeline: append([]Window(nil), r.timeline...), Histogram: r.all.Buckets(),
	}
	if d > 0 {
		s.Throughput = float64(s.Completed) / d.Seconds()
	}
	return s
}

func copyMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SortedKeys returns m's keys in order.
func SortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
