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

// Result is one finished transaction.
type Result struct {
	Register int // index in the fleet
	Kind     string
	Outcome  string
	RC       string // when Outcome is OutcomeAnswered
	Latency  time.Duration
	// Acquirer is the acquirer round trip the answering node reported
	// (DE48 AQ); 0 when the request did not go to the acquirer.
	Acquirer time.Duration
	Node     string // DE48 ND: the node that answered
}

// Recorder collects the results of a run. It is safe for concurrent use.
type Recorder struct {
	now   func() time.Time
	start time.Time

	mu       sync.Mutex
	all      Histogram // total latency as the register saw it
	added    Histogram // total minus the acquirer round trip, answered only
	acq      Histogram // acquirer round trips reported
	byRC     map[string]int64
	byKind   map[string]int64
	outcomes map[string]int64
	inFlight int64
	offered  int64
	dropped  int64
	// The current one-second window and the last full one.
	winStart      time.Time
	win, winAdded Histogram
	winErrors     int64
	winOffered    int64
	last          Window
	timeline      []Window
	faults        []*faultTracker
	answeredRegs  map[int]struct{}
}

// Window is one second of a run.
type Window struct {
	Second   int           `json:"second"` // since the start
	Count    int64         `json:"count"`
	Errors   int64         `json:"errors"`
	Offered  int64         `json:"offered,omitempty"` // arrivals (open loop)
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	AddedP50 time.Duration `json:"added_p50_ns"`
	AddedP99 time.Duration `json:"added_p99_ns"`
}

// NewRecorder starts recording at now(); nil means time.Now.
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &Recorder{now: now, start: t, winStart: t, byRC: map[string]int64{},
		byKind: map[string]int64{}, outcomes: map[string]int64{}, answeredRegs: map[int]struct{}{}}
}

// Offer counts an arrival; dropped means no register was free to take it
// (open loop only).
func (r *Recorder) Offer(dropped bool) {
	r.mu.Lock()
	r.roll(r.now())
	r.offered++
	r.winOffered++
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

// End records a finished transaction.
func (r *Recorder) End(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	r.inFlight--
	r.roll(t)
	r.byKind[res.Kind]++
	r.outcomes[res.Outcome]++
	r.all.Record(res.Latency)
	r.win.Record(res.Latency)
	if res.Outcome != OutcomeAnswered {
		r.winErrors++
		return
	}
	r.byRC[res.RC]++
	added := res.Latency - res.Acquirer
	r.added.Record(added)
	r.winAdded.Record(added)
	if res.Acquirer > 0 {
		r.acq.Record(res.Acquirer)
	}
	r.answeredRegs[res.Register] = struct{}{}
	for _, f := range r.faults {
		f.answered(res, t)
	}
}

// roll closes the current window if t is past it.
func (r *Recorder) roll(t time.Time) {
	for t.Sub(r.winStart) >= time.Second {
		w := Window{Second: int(r.winStart.Sub(r.start) / time.Second), Count: r.win.Count(), Errors: r.winErrors, Offered: r.winOffered,
			P50: r.win.Percentile(50), P99: r.win.Percentile(99), Max: r.win.Max(),
			AddedP50: r.winAdded.Percentile(50), AddedP99: r.winAdded.Percentile(99)}
		r.last = w
		r.timeline = append(r.timeline, w)
		r.win, r.winAdded, r.winErrors, r.winOffered = Histogram{}, Histogram{}, 0, 0
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
	Duration   time.Duration `json:"duration_ns"`
	Completed  int64         `json:"completed"`
	Offered    int64         `json:"offered,omitempty"`
	Dropped    int64         `json:"dropped,omitempty"`
	Throughput float64       `json:"throughput_tx_per_s"`
	// PeakThroughput is the best mean over 10 consecutive seconds.
	PeakThroughput float64 `json:"peak_10s_tx_per_s"`
	// Latency is as the registers saw it; Added is Latency minus the
	// acquirer round trip the node reported (DE48 AQ), over answered
	// transactions; Acquirer is that round trip where there was one.
	Latency        Latency          `json:"latency"`
	Added          Latency          `json:"added_latency"`
	Acquirer       Latency          `json:"acquirer_latency"`
	ByRC           map[string]int64 `json:"by_rc"`
	ByKind         map[string]int64 `json:"by_kind"`
	Unknown        int64            `json:"unknown"`
	NotSent        int64            `json:"not_sent"`
	Errors         int64            `json:"errors"` // unknown + not sent + other
	Timeline       []Window         `json:"timeline"`
	Histogram      []Bucket         `json:"histogram"`
	AddedHistogram []Bucket         `json:"added_histogram"`
	Faults         []FaultResult    `json:"faults,omitempty"`
}

// Latency are the percentiles of a histogram.
type Latency struct {
	Count int64         `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

func latencyOf(h *Histogram) Latency {
	return Latency{Count: h.Count(), Min: h.Min(), Mean: h.Mean(), P50: h.Percentile(50), P90: h.Percentile(90),
		P99: h.Percentile(99), P999: h.Percentile(99.9), Max: h.Max()}
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
		Latency: latencyOf(&r.all), Added: latencyOf(&r.added), Acquirer: latencyOf(&r.acq),
		ByRC: copyMap(r.byRC), ByKind: copyMap(r.byKind), Unknown: r.outcomes[OutcomeUnknown],
		NotSent: r.outcomes[OutcomeNotSent], Errors: r.errors(),
		Timeline: append([]Window(nil), r.timeline...), Histogram: r.all.Buckets(), AddedHistogram: r.added.Buckets(),
	}
	if d > 0 {
		s.Throughput = float64(s.Completed) / d.Seconds()
	}
	s.PeakThroughput = peak(s.Timeline, 10)
	for _, f := range r.faults {
		s.Faults = append(s.Faults, f.result(r.start, len(r.answeredRegs)))
	}
	return s
}

// peak is the best mean count over n consecutive windows (fewer if the
// run is shorter).
func peak(tl []Window, n int) float64 {
	n = min(n, len(tl))
	if n == 0 {
		return 0
	}
	var sum, best int64
	for i, w := range tl {
		sum += w.Count
		if i >= n {
			sum -= tl[i-n].Count
		}
		if i >= n-1 {
			best = max(best, sum)
		}
	}
	return float64(best) / float64(n)
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
