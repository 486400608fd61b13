package simulation

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"
)

// FaultKind names a fault the simulation injects.
type FaultKind string

// Fault kinds. The acquirer's are sim.Fault settings (one at a time: the
// simulator has one fault in force); the cluster's run one at a time too,
// so that a quorum stays up; each register has its own lane.
const (
	FaultAcqDown       FaultKind = "acquirer_down"       // connections closed and refused
	FaultAcqSlow       FaultKind = "acquirer_slow"       // Param ms added to every answer
	FaultAcqDrop       FaultKind = "acquirer_drop"       // Param % of answers lost after booking
	FaultAcqLate       FaultKind = "acquirer_late"       // answers held Param ms: past the node's timeout
	FaultAcqDuplicate  FaultKind = "acquirer_duplicate"  // every answer sent twice
	FaultAcqDisconnect FaultKind = "acquirer_disconnect" // every connection cut once (instant)
	FaultLeaderStop    FaultKind = "leader_stop"         // the active closed, restarted from its data after For
	FaultTransfer      FaultKind = "leader_transfer"     // leadership moved away, and back after Param ms
	FaultCommitFail    FaultKind = "commit_fail"         // the state file's commits fail after Param more; the node stops
	FaultRegTimeout    FaultKind = "register_timeout"    // the register's requests get deadlines of at most Param ms
	FaultRegRestart    FaultKind = "register_restart"    // the register's client closed, reopened on its queue after For
)

// allFaults lists every kind.
var allFaults = []FaultKind{FaultAcqDown, FaultAcqSlow, FaultAcqDrop, FaultAcqLate, FaultAcqDuplicate,
	FaultAcqDisconnect, FaultLeaderStop, FaultTransfer, FaultCommitFail, FaultRegTimeout, FaultRegRestart}

// only keeps the faults of plan whose kind is in kinds (all when kinds is
// empty); the rest keep their times.
func only(plan []Fault, kinds []FaultKind) []Fault {
	if len(kinds) == 0 {
		return plan
	}
	var out []Fault
	for _, f := range plan {
		if slices.Contains(kinds, f.Kind) {
			out = append(out, f)
		}
	}
	return out
}

// Targets that are resolved when the fault starts.
const (
	TargetAcquirer = "acquirer"
	TargetLeader   = "leader"
	TargetFollower = "follower"
)

// Fault is one planned fault: what, where, when (an offset from the start
// of the load), for how long, and a parameter whose unit depends on Kind.
type Fault struct {
	Kind   FaultKind
	Target string // TargetAcquirer, TargetLeader, TargetFollower, or a register's DE41
	At     time.Duration
	For    time.Duration
	Param  int
}

func (f Fault) String() string {
	s := fmt.Sprintf("%s %s at +%v for %v", f.Kind, f.Target, f.At.Round(time.Millisecond), f.For.Round(time.Millisecond))
	if f.Param != 0 {
		s += fmt.Sprintf(" param %d", f.Param)
	}
	return s
}

// lane groups faults that must not overlap.
func (f Fault) lane() string {
	switch f.Kind {
	case FaultLeaderStop, FaultTransfer, FaultCommitFail:
		return "cluster"
	case FaultRegTimeout, FaultRegRestart:
		return "register " + f.Target
	}
	return TargetAcquirer
}

// stream is the random source named name of seed: each part of a run
// draws from its own, so that adding draws to one part leaves the others'
// sequences as they were.
func stream(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// between draws uniformly from [lo, hi].
func between(rnd *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rnd.Int64N(int64(hi-lo)+1))
}

// Schedule plans the faults of one seed over a load of the given length
// against the given registers: the same arguments give the same schedule.
// Every fault ends by 85% of the load, so that the last transactions run
// on a healed system too.
func Schedule(seed uint64, load time.Duration, registers []string) []Fault {
	end := load * 85 / 100
	var out []Fault
	out = append(out, acquirerLane(stream(seed, "faults/acquirer"), end)...)
	out = append(out, clusterLane(stream(seed, "faults/cluster"), end)...)
	out = append(out, registerLanes(stream(seed, "faults/registers"), end, registers)...)
	slices.SortStableFunc(out, func(a, b Fault) int { return cmp.Compare(a.At, b.At) })
	return out
}

// acquirerFaults weighs the acquirer's kinds.
var acquirerFaults = []weighted[FaultKind]{
	{FaultAcqDown, 3}, {FaultAcqSlow, 3}, {FaultAcqDrop, 3}, {FaultAcqLate, 3},
	{FaultAcqDuplicate, 2}, {FaultAcqDisconnect, 2},
}

// acquirerLane plans acquirer faults back to back with gaps of health.
func acquirerLane(rnd *rand.Rand, end time.Duration) []Fault {
	var out []Fault
	for t := between(rnd, 500*time.Millisecond, 2*time.Second); ; {
		f := Fault{Kind: pick(rnd, acquirerFaults), Target: TargetAcquirer, At: t}
		switch f.Kind {
		case FaultAcqDown:
			f.For = between(rnd, 500*time.Millisecond, 3*time.Second)
		case FaultAcqSlow:
			f.For, f.Param = between(rnd, time.Second, 4*time.Second), 100+rnd.IntN(1300)
		case FaultAcqDrop:
			f.For, f.Param = between(rnd, time.Second, 4*time.Second), 10+rnd.IntN(51)
		case FaultAcqLate:
			late := acquirerTimeout + between(rnd, 200*time.Millisecond, time.Second)
			f.For, f.Param = between(rnd, time.Second, 3*time.Second), int(late/time.Millisecond)
		case FaultAcqDuplicate:
			f.For = between(rnd, time.Second, 4*time.Second)
		}
		if t+f.For > end {
			return out
		}
		out = append(out, f)
		t += f.For + between(rnd, 500*time.Millisecond, 2500*time.Millisecond)
	}
}

var clusterFaults = []weighted[FaultKind]{{FaultLeaderStop, 3}, {FaultTransfer, 3}, {FaultCommitFail, 2}}

// clusterLane plans node faults one at a time, with gaps long enough for
// an election and a restarted node to catch up.
func clusterLane(rnd *rand.Rand, end time.Duration) []Fault {
	var out []Fault
	for t := between(rnd, time.Second, 3*time.Second); ; {
		f := Fault{Kind: pick(rnd, clusterFaults), Target: TargetLeader, At: t}
		switch f.Kind {
		case FaultLeaderStop:
			f.For = between(rnd, time.Second, 4*time.Second)
		case FaultTransfer:
			// Back within a register's request deadline.
			f.Param = 200 + rnd.IntN(1800)
			f.For = time.Duration(f.Param) * time.Millisecond
		case FaultCommitFail:
			f.For, f.Param = between(rnd, 1500*time.Millisecond, 4*time.Second), rnd.IntN(30)
			if rnd.IntN(3) == 0 {
				f.Target = TargetFollower
			}
		}
		if t+f.For > end {
			return out
		}
		out = append(out, f)
		t += f.For + between(rnd, 2*time.Second, 5*time.Second)
	}
}

// registerLanes plans about one register fault per 1.5 s of load, on
// registers drawn at random; a register's own faults never overlap.
func registerLanes(rnd *rand.Rand, end time.Duration, registers []string) []Fault {
	if len(registers) == 0 || end <= time.Second {
		return nil
	}
	var drawn []Fault
	for range int(end / (1500 * time.Millisecond)) {
		f := Fault{Target: registers[rnd.IntN(len(registers))], At: between(rnd, 500*time.Millisecond, end-time.Second)}
		if rnd.IntN(2) == 0 {
			f.Kind, f.For, f.Param = FaultRegTimeout, between(rnd, time.Second, 4*time.Second), 30+rnd.IntN(1500)
		} else {
			f.Kind, f.For = FaultRegRestart, between(rnd, 200*time.Millisecond, 3*time.Second)
		}
		f.For = min(f.For, end-f.At)
		drawn = append(drawn, f)
	}
	slices.SortStableFunc(drawn, func(a, b Fault) int { return cmp.Compare(a.At, b.At) })
	busy := map[string]time.Duration{} // per register: when its last fault ends
	var out []Fault
	for _, f := range drawn {
		if f.At < busy[f.Target] {
			continue
		}
		busy[f.Target] = f.At + f.For + 200*time.Millisecond
		out = append(out, f)
	}
	return out
}

// weighted is a choice and its relative weight.
type weighted[T any] struct {
	v T
	w int
}

// pick draws one of choices by weight.
func pick[T any](rnd *rand.Rand, choices []weighted[T]) T {
	sum := 0
	for _, c := range choices {
		sum += c.w
	}
	n := rnd.IntN(sum)
	for _, c := range choices {
		if n < c.w {
			return c.v
		}
		n -= c.w
	}
	return choices[len(choices)-1].v
}
