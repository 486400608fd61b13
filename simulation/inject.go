package simulation

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Injected is a fault as it happened: the plan, the node a leader or
// follower target resolved to, when it really started and ended, and what
// was noticed (a commit hook that fired, a restart that failed).
type Injected struct {
	Fault
	Node       string
	Start, End time.Time
	Note       string
}

// where is what the fault hit: a register, the acquirer, or a node (and
// the role it was chosen for).
func (f Injected) where() string {
	if f.Node != "" {
		return f.Node + "/" + f.Fault.Target
	}
	return f.Fault.Target
}

// injected reports whether the fault took effect (was not skipped).
func (f Injected) injected() bool { return !strings.HasPrefix(f.Note, skippedNote) }

const skippedNote = "skipped: "

func (f Injected) line(start time.Time) string {
	s := fmt.Sprintf("%-20s %-15s +%6.2fs .. +%6.2fs", f.Kind, f.where(), f.Start.Sub(start).Seconds(), f.End.Sub(start).Seconds())
	if f.Param != 0 {
		s += fmt.Sprintf("  param %d", f.Param)
	}
	if f.Note != "" {
		s += "  " + f.Note
	}
	return s
}

// faultLog collects injected faults from every lane.
type faultLog struct {
	mu  sync.Mutex
	all []Injected
}

func (l *faultLog) add(f Injected) {
	l.mu.Lock()
	l.all = append(l.all, f)
	l.mu.Unlock()
}

// list returns the faults in order of start.
func (l *faultLog) list() []Injected {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]Injected(nil), l.all...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// undo ends a fault; it may add to the record's note.
type undo func(ctx context.Context, rec *Injected)

// injector runs a schedule against one seed's cluster and registers.
type injector struct {
	env   *env
	regs  map[string]*register
	start time.Time // the load's start: Fault.At counts from here
	log   faultLog
}

// run injects every fault at its time, the faults of a lane one after
// another and the lanes side by side, until the schedule or ctx ends (a
// fault in force then ends at once).
func (in *injector) run(ctx context.Context, plan []Fault) {
	lanes := map[string][]Fault{}
	for _, f := range plan {
		lanes[f.lane()] = append(lanes[f.lane()], f)
	}
	var wg sync.WaitGroup
	for _, faults := range lanes {
		wg.Go(func() {
			for _, f := range faults {
				if !sleepCtx(ctx, time.Until(in.start.Add(f.At))) {
					return
				}
				in.inject(ctx, f)
			}
		})
	}
	wg.Wait()
}

// inject applies f, holds it for f.For and undoes it. The undo runs even
// when ctx has ended, with a context of its own: a fault left in force
// would outlive the load.
func (in *injector) inject(ctx context.Context, f Fault) {
	rec := Injected{Fault: f, Start: time.Now()}
	end, err := in.apply(ctx, f, &rec)
	if err != nil {
		rec.Note, rec.End = skippedNote+err.Error(), rec.Start
		in.log.add(rec)
		return
	}
	sleepCtx(ctx, f.For)
	if end != nil {
		uctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		end(uctx, &rec)
		cancel()
	}
	rec.End = time.Now()
	in.log.add(rec)
}
