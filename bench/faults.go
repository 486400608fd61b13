package bench

import (
	"sync"
	"time"

	"github.com/tillgate/tillgate/check"
)

// faultLog is the faults the harness actually injected, with their times.
// It decides whether a run had faults (never the flags: a kill that found
// no active injected nothing) and tells the checker, whose report names
// the faults that overlap each violation's history.
type faultLog struct {
	mu     sync.Mutex
	faults []check.Fault
}

// injected records a fault of kind on target, injected at at, and returns
// the func that marks its end (the node restarted or resumed).
func (l *faultLog) injected(kind, target string, at time.Time) (end func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.faults)
	l.faults = append(l.faults, check.Fault{Kind: kind, Target: target, At: at})
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.faults[i].End = time.Now()
	}
}

// list is every fault injected so far.
func (l *faultLog) list() []check.Fault {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]check.Fault(nil), l.faults...)
}
