package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tillgate/tillgate/internal/faultnet"
)

// Fault kinds of the scenarios, as reports and the checker name them.
const (
	faultPartition   = "partition"  // Raft traffic of a node dropped both ways
	faultPeerCut     = "peer-cut"   // the Raft links of two nodes dropped
	faultNoReceive   = "no-receive" // connections to a node's Raft port dropped
	faultNoSend      = "no-send"    // a node's connections to its peers dropped
	faultRegCut      = "registers-cut"
	faultAcquirerCut = "acquirer-cut" // nodes cut off from the acquirer
	faultDiskFull    = "disk-full"
	faultEIOPrefix   = "eio-" // + the failpoint's name
)

func runActiveCut(ctx context.Context, c *chaos) error {
	return c.runCut(ctx, faultPartition, func(a string) (string, resumeRule, []faultnet.Rule) {
		return a, resumeRule{Silent: a}, append(c.p.cuts().raftOut(a), c.p.cuts().raftIn(a)...)
	})
}

func runFollowerCut(ctx context.Context, c *chaos) error {
	return c.runCut(ctx, faultPartition, func(a string) (string, resumeRule, []faultnet.Rule) {
		f := c.p.peersOf(a)[0]
		return f, resumeRule{Silent: f}, append(c.p.cuts().raftOut(f), c.p.cuts().raftIn(f)...)
	})
}

// runPeerCut: the follower cut off from the active loses its leader; the
// active keeps the other follower, hence its quorum.
func runPeerCut(ctx context.Context, c *chaos) error {
	return c.runCut(ctx, faultPeerCut, func(a string) (string, resumeRule, []faultnet.Rule) {
		f := c.p.peersOf(a)[0]
		return a + "/" + f, resumeRule{Silent: f}, c.p.cuts().raftPair(a, f)
	})
}

func runNoReceive(ctx context.Context, c *chaos) error {
	return c.runCut(ctx, faultNoReceive, func(a string) (string, resumeRule, []faultnet.Rule) {
		return a, resumeRule{}, c.p.cuts().raftIn(a)
	})
}

func runNoSend(ctx context.Context, c *chaos) error {
	return c.runCut(ctx, faultNoSend, func(a string) (string, resumeRule, []faultnet.Rule) {
		return a, resumeRule{Silent: a}, c.p.cuts().raftOut(a)
	})
}

// runRegistersCut: the active stays leader and healthy for its peers; the
// registers reach it through the standbys' relays, whose answers are its
// own (nothing is silenced); its answers to what was sent before the cut
// still come through, and do not count.
func runRegistersCut(ctx context.Context, c *chaos) error {
	return c.runCut(ctx, faultRegCut, func(a string) (string, resumeRule, []faultnet.Rule) {
		return a, resumeRule{Fresh: true}, c.p.cuts().registersTo(a)
	})
}

// runAcquirerOneNode: the one node that still reaches the acquirer is a
// follower, so the active cannot (nothing moves leadership to the node
// that can).
func runAcquirerOneNode(ctx context.Context, c *chaos) error {
	return c.runCut(ctx, faultAcquirerCut, func(a string) (string, resumeRule, []faultnet.Rule) {
		cut := []string{a, c.p.peersOf(a)[0]}
		var rules []faultnet.Rule
		for _, id := range cut {
			rules = append(rules, c.p.cuts().acquirerFrom(id)...)
		}
		return strings.Join(cut, ","), resumeRule{}, rules
	})
}

// runFlapping cuts whichever node is the active both ways for 2-3 s, heals
// for 2-3 s, and again, for the flapping period; each cut is a fault.
func runFlapping(ctx context.Context, c *chaos) error {
	if err := c.warm(ctx); err != nil {
		return err
	}
	period := DefaultChaosFlapping
	if c.lo.ChaosFlapping > 0 {
		period = c.lo.ChaosFlapping
	}
	stop := time.Now().Add(period)
	var last *fault
	target := ""
	for time.Now().Before(stop) && ctx.Err() == nil {
		if a, err := c.p.leader(ctx); err == nil {
			target = a // else (an election running): the last one again
		}
		if target == "" {
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		f, err := c.cut(faultPartition, target, resumeRule{Silent: target}, append(c.p.cuts().raftOut(target), c.p.cuts().raftIn(target)...))
		if err != nil {
			return err
		}
		sleepCtx(ctx, c.flap())
		if err := f.over(); err != nil {
			return err
		}
		last = f
		sleepCtx(ctx, c.flap())
	}
	if last == nil {
		return fmt.Errorf("bench: flapping: no cut in %s", period)
	}
	c.lo.progressf("fault: flapping over")
	return c.settle(ctx, last)
}

// flap is 2-3 s.
func (c *chaos) flap() time.Duration {
	return 2*time.Second + time.Duration(c.rnd.Int64N(int64(time.Second)))
}

// runDiskFull fills the active's tmpfs.
func runDiskFull(ctx context.Context, c *chaos) error {
	return c.runDiskFault(ctx, faultDiskFull,
		func(id string) error { return c.p.fillDisk(id) },
		func(id string) error { return c.p.clearDisk(id) })
}

// runEIO arms failpoint name on the active.
func runEIO(name string) func(context.Context, *chaos) error {
	return func(ctx context.Context, c *chaos) error {
		return c.runDiskFault(ctx, faultEIOPrefix+name,
			func(id string) error { return c.p.armFailpoint(id, name) },
			func(id string) error { return c.p.disarmFailpoint(id, name) })
	}
}

// runDiskFault is the shape of the disk scenarios: the active's disk fails,
// the node must stop (its process exits) and the others carry on; the
// registers resume on the new active; after the hold the disk is cleared,
// the node restarted, and it catches up from its peers.
func (c *chaos) runDiskFault(ctx context.Context, kind string, fail, clear func(id string) error) error {
	if err := c.warm(ctx); err != nil {
		return err
	}
	a, err := c.active(ctx)
	if err != nil {
		return err
	}
	c.lo.progressf("fault: %s on %s (the active)", kind, a)
	f, err := c.inject(kind, a, resumeRule{Silent: a}, func() error { return fail(a) }, func() error { return c.restart(a, clear) })
	if err != nil {
		return err
	}
	stopped := c.p.waitExit(ctx, a, chaosBound)
	if stopped != nil {
		c.lo.progressf("fault: %v", stopped)
	} else {
		c.lo.progressf("fault: %s stopped (%s)", a, logTail(c.p.logPath(a), 1))
		c.waitOthersServe(ctx, a)
		c.waitResumed(ctx, f)
		c.hold(ctx, c.holdOf())
	}
	if err := f.over(); err != nil {
		return err
	}
	if stopped != nil {
		return stopped
	}
	c.lo.progressf("fault: %s cleared, %s restarted", kind, a)
	return c.waitCaughtUp(ctx)
}

// restart clears the fault of node id and starts it again (a node that did
// not stop is stopped first: it could not serve).
func (c *chaos) restart(id string, clear func(string) error) error {
	if c.p.running(id) {
		if err := c.p.kill(id); err != nil {
			return err
		}
	}
	if err := clear(id); err != nil {
		return err
	}
	return c.p.start(id)
}

// waitOthersServe waits for an active other than id.
func (c *chaos) waitOthersServe(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, chaosBound)
	defer cancel()
	for {
		if a, err := c.p.leader(ctx); err == nil && a != id {
			c.lo.progressf("fault: %s serves", a)
			return
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			c.lo.progressf("fault: no other active within %s", chaosBound)
			return
		}
	}
}

// waitExit waits up to d for node id's process to exit on its own.
func (p *procCluster) waitExit(ctx context.Context, id string, d time.Duration) error {
	pr := p.get(id)
	if pr == nil {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-pr.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	return fmt.Errorf("bench: %s did not stop within %s", id, d)
}

// running says whether node id's process is up.
func (p *procCluster) running(id string) bool {
	pr := p.get(id)
	if pr == nil {
		return false
	}
	select {
	case <-pr.done:
		return false
	default:
		return true
	}
}

func (p *procCluster) logPath(name string) string { return filepath.Join(p.dir, name+".log") }

// silencesAcquirer says whether a fault of kind leaves the acquirer's
// echoes unanswered through no fault of the node's: a paused process, or
// a link cut on the network.
func silencesAcquirer(kind string) bool {
	return slices.Contains([]string{"pause", faultAcquirerCut}, kind)
}
