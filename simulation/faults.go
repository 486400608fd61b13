package simulation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
)

// errNoTarget: the fault's target was not there when it was due (no
// serving leader, the register closed): the fault is skipped.
var errNoTarget = errors.New("no target")

// apply starts f and returns how to end it.
func (in *injector) apply(ctx context.Context, f Fault, rec *Injected) (undo, error) {
	switch f.Kind {
	case FaultAcqDisconnect:
		in.env.acq.Disconnect()
		return nil, nil
	case FaultAcqDown, FaultAcqSlow, FaultAcqDrop, FaultAcqLate, FaultAcqDuplicate:
		return in.acquirerFault(f)
	case FaultLeaderStop:
		return in.leaderStop(ctx, rec)
	case FaultTransfer:
		return in.transfer(ctx, rec)
	case FaultCommitFail:
		return in.commitFail(ctx, f, rec)
	case FaultRegTimeout, FaultRegRestart:
		return in.registerFault(f)
	}
	return nil, fmt.Errorf("unknown fault kind %q", f.Kind)
}

// acquirerFault sets the simulator's fault; the undo heals it.
func (in *injector) acquirerFault(f Fault) (undo, error) {
	var sf sim.Fault
	switch f.Kind {
	case FaultAcqDown:
		sf.Down = true
	case FaultAcqSlow:
		sf.ExtraLatency = time.Duration(f.Param) * time.Millisecond
	case FaultAcqDrop:
		sf.DropPercent = f.Param
	case FaultAcqLate:
		sf.Late = time.Duration(f.Param) * time.Millisecond
	case FaultAcqDuplicate:
		sf.Duplicate = true
	}
	if err := in.env.acq.SetFault(sf); err != nil {
		return nil, err
	}
	return func(_ context.Context, rec *Injected) {
		if err := in.env.acq.SetFault(sim.Fault{}); err != nil {
			rec.Note = "heal failed: " + err.Error()
		}
	}, nil
}

// leaderStop closes the active node; the undo starts it from its data.
func (in *injector) leaderStop(ctx context.Context, rec *Injected) (undo, error) {
	i, err := in.env.waitLeader(ctx, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoTarget, err)
	}
	rec.Node = in.env.nodeID(i)
	in.env.stopNode(i)
	return func(ctx context.Context, rec *Injected) {
		if err := in.env.startNode(ctx, i); err != nil {
			rec.Note = err.Error()
		}
	}, nil
}

// transfer hands leadership away (POST /leader/transfer on the active)
// and, after the fault's Param ms, back from the new active: Raft picks
// the most up-to-date voter each time, so "back" may land on the third
// node. The note says where it went.
func (in *injector) transfer(ctx context.Context, rec *Injected) (undo, error) {
	from, to, err := in.transferOnce(ctx)
	if err != nil {
		return nil, err
	}
	rec.Node, rec.Note = from, from+" -> "+to
	return func(ctx context.Context, rec *Injected) {
		_, back, err := in.transferOnce(ctx)
		if err != nil {
			rec.Note += ", back failed: " + err.Error()
			return
		}
		rec.Note += " -> " + back
	}, nil
}

func (in *injector) transferOnce(ctx context.Context) (from, to string, err error) {
	i, err := in.env.waitLeader(ctx, 3*time.Second)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", errNoTarget, err)
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := in.env.admins[i].TransferLeader(actx); err != nil {
		return "", "", fmt.Errorf("transfer from %s: %w", in.env.nodeID(i), err)
	}
	return in.env.nodeID(i), in.newLeader(ctx, i), nil
}

// newLeader waits a little for a serving leader other than old: the
// transfer's answer often precedes the election's end.
func (in *injector) newLeader(ctx context.Context, old int) string {
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if j := in.env.leader(); j >= 0 && j != old {
			return in.env.nodeID(j)
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			break
		}
	}
	return "?"
}

// commitFail arms the target node's commit hook: after Param more commits
// every commit of its state file fails and the node stops (its watcher
// closes it when it reports the error; a follower, whose pipeline never
// sees the failed apply, does not report one). The undo disarms the hook
// and restarts the node from its data if the hook fired.
func (in *injector) commitFail(ctx context.Context, f Fault, rec *Injected) (undo, error) {
	i := -1
	if f.Target == TargetFollower {
		i = in.env.follower()
	} else {
		i, _ = in.env.waitLeader(ctx, 2*time.Second)
	}
	if i < 0 {
		return nil, fmt.Errorf("%w: no %s", errNoTarget, f.Target)
	}
	rec.Node = in.env.nodeID(i)
	h := in.env.hooks[i]
	h.arm(f.Param)
	return func(ctx context.Context, rec *Injected) {
		stopped := !in.env.running(i)
		if !h.disarm() {
			rec.Note = "hook never fired"
			return
		}
		rec.Note = fmt.Sprintf("fired at +%.2fs; stopped by its own error: %v", time.Unix(0, h.fired.Load()).Sub(rec.Start).Seconds(), stopped)
		if err := in.env.restartNode(ctx, i); err != nil {
			rec.Note += "; " + err.Error()
		}
	}, nil
}

// registerFault shortens a register's deadlines, or closes its client and
// reopens it on the same queue file.
func (in *injector) registerFault(f Fault) (undo, error) {
	r := in.regs[f.Target]
	if r == nil {
		return nil, fmt.Errorf("%w: register %s", errNoTarget, f.Target)
	}
	if f.Kind == FaultRegTimeout {
		r.short.Store(int64(time.Duration(f.Param) * time.Millisecond))
		return func(context.Context, *Injected) { r.short.Store(0) }, nil
	}
	if err := r.close(); err != nil {
		// Closed anyway: the reopen below is what matters.
		in.env.log.Warn("simulation: register close", "register", r.tid, "err", err)
	}
	return func(_ context.Context, rec *Injected) {
		if err := r.open(); err != nil {
			rec.Note = err.Error()
		}
	}, nil
}
