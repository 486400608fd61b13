package bench

import (
	"errors"
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
	// resume is, per fault, which answers count as the registers'
	// resuming (resume.go).
	resume []resumeRule
	// errs are faults that could not be injected or undone as planned.
	errs []error
}

// fail records a fault that went wrong: the run fails.
func (l *faultLog) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

// err is every fault that went wrong, nil for none.
func (l *faultLog) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}

// injected records a fault of kind on target, injected at at, and returns
// the func that marks its end (the node restarted or resumed). The
// target's answers do not count as resuming before the end.
func (l *faultLog) injected(kind, target string, at time.Time) (end func()) {
	return l.injectedRule(kind, target, resumeRule{Silent: target}, at)
}

// injectedRule is injected with the rule that says which answers count as
// resuming: a fault on the registers' links, say, leaves the active
// serving them through the standbys' relays.
func (l *faultLog) injectedRule(kind, target string, rule resumeRule, at time.Time) (end func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.faults)
	l.faults = append(l.faults, check.Fault{Kind: kind, Target: target, At: at})
	l.resume = append(l.resume, rule)
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

// resumeRules are, per fault of list, which answers count as resuming.
func (l *faultLog) resumeRules() []resumeRule {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]resumeRule(nil), l.resume...)
}
