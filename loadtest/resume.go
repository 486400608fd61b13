package loadtest

import (
	"slices"
	"time"
)

// FaultResult is the time registers took to resume after one fault.
//
// A register has resumed at its first answer after the fault from a node
// other than the faulted one, or from the faulted node once it is back
// (FaultBack: restarted or resumed). Resume figures are taken over the
// registers that resumed: the time from the fault to each one's first such
// answer (p50, p99, max), and First, the first answer of any register
// after the fault: the gap in the fleet's answer timeline.
type FaultResult struct {
	Kind string        `json:"kind"` // "kill" or "pause"
	Node string        `json:"node"`
	At   time.Duration `json:"at_ns"`             // since the start of the run
	Back time.Duration `json:"back_ns,omitempty"` // when the node was restarted or resumed
	// Resumed of Registers (those that got any answer in the run).
	Resumed   int           `json:"resumed"`
	Registers int           `json:"registers"`
	First     time.Duration `json:"first_ns"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
}

type faultTracker struct {
	kind, node string
	at, back   time.Time
	first      map[int]time.Duration // register -> time to its first answer
}

// FaultStart records that a fault hit node now and returns its id for
// FaultBack.
func (r *Recorder) FaultStart(kind, node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &faultTracker{kind: kind, node: node, at: r.now(), first: map[int]time.Duration{}})
	return len(r.faults) - 1
}

// FaultBack records that the node of fault id serves again (restarted
// or resumed): its answers count as resumes from now on.
func (r *Recorder) FaultBack(id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id >= 0 && id < len(r.faults) {
		r.faults[id].back = r.now()
	}
}

// answered notes an answer at t.
func (f *faultTracker) answered(res Result, t time.Time) {
	if !t.After(f.at) {
		return
	}
	if res.Node == f.node && (f.back.IsZero() || t.Before(f.back)) {
		return // from the faulted node before it came back: an old answer
	}
	if _, ok := f.first[res.Register]; !ok {
		f.first[res.Register] = t.Sub(f.at)
	}
}

func (f *faultTracker) result(start time.Time, registers int) FaultResult {
	fr := FaultResult{Kind: f.kind, Node: f.node, At: f.at.Sub(start), Resumed: len(f.first), Registers: registers}
	if !f.back.IsZero() {
		fr.Back = f.back.Sub(start)
	}
	d := make([]time.Duration, 0, len(f.first))
	for _, v := range f.first {
		d = append(d, v)
	}
	if len(d) == 0 {
		return fr
	}
	slices.Sort(d)
	fr.First, fr.Max = d[0], d[len(d)-1]
	fr.P50, fr.P99 = rank(d, 50), rank(d, 99)
	return fr
}

// rank is the value at rank ceil(p/100 × n) of sorted d.
func rank(d []time.Duration, p float64) time.Duration {
	i := int(float64(len(d))*p/100+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}
