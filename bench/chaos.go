package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tillgate/tillgate/internal/faultnet"
	"github.com/tillgate/tillgate/loadtest"
	"github.com/tillgate/tillgate/node/adminapi"
)

// ChaosScenario is one scenario of the fault suite (issue 17; the tests in
// systemtest/chaos, `make chaos`, `tillbench local --chaos NAME`): what it
// injects into a cluster of `tillgate serve` processes under load. Network
// faults are iptables rules on the nodes' users (faultnet); the nodes
// therefore run as users of their own.
type ChaosScenario struct {
	Name string
	Doc  string
	// disk is the size of a tmpfs per node data dir ("": none);
	// failpoints gives each node a failpoint directory.
	disk       string
	failpoints bool
	run        func(ctx context.Context, c *chaos) error
}

// Defaults of the scenarios' timings.
const (
	// DefaultChaosHold is how long a cut lasts before it heals, and how
	// long a node stays down after its disk failed before it is cleared
	// and restarted.
	DefaultChaosHold = 10 * time.Second
	// DefaultChaosFlapping is how long the flapping scenario cuts and
	// heals.
	DefaultChaosFlapping = time.Minute
	// chaosTail is how long the load goes on after a scenario ends.
	chaosTail = 2 * time.Second
	// chaosBound bounds each wait of a scenario for a state.
	chaosBound = time.Minute
	// chaosDisk is each node's tmpfs in the disk scenarios: room for a
	// few minutes of load, filled up on purpose.
	chaosDisk = "512m"
)

// ChaosScenarios lists the scenarios of the suite, in the order of the
// issue.
func ChaosScenarios() []ChaosScenario {
	return []ChaosScenario{
		{Name: "active-cut", Doc: "the active's Raft traffic dropped both ways (registers reach every node), healed after the hold", run: runActiveCut},
		{Name: "follower-cut", Doc: "a follower's Raft traffic dropped both ways, healed after the hold", run: runFollowerCut},
		{Name: "active-peer-cut", Doc: "the Raft links between the active and one follower dropped (the active keeps its quorum), healed after the hold", run: runPeerCut},
		{Name: "active-no-receive", Doc: "one-way: every Raft connection the peers open to the active dropped; the active's own connections (its appends) still work", run: runNoReceive},
		{Name: "active-no-send", Doc: "one-way: every Raft connection the active opens to its peers dropped; theirs to it (votes, a new leader's appends) still work", run: runNoSend},
		{Name: "flapping", Doc: "the active (whichever it is) cut both ways for 2-3 s, healed for 2-3 s, again, for the flapping period", run: runFlapping},
		{Name: "registers-cut", Doc: "the registers' traffic to the active's register port dropped (the standbys' relays and Raft still reach it), healed after the hold", run: runRegistersCut},
		{Name: "acquirer-one-node", Doc: "the acquirer reachable from one follower only (the active and the other follower cut off from it), healed after the hold", run: runAcquirerOneNode},
		{Name: "disk-full", Doc: "the active's data dir (a tmpfs) filled up: the node stops, the cluster carries on; after the hold the file goes and the node restarts and catches up", disk: chaosDisk, run: runDiskFull},
		{Name: "state-eio", Doc: "every state file commit of the active fails with EIO (failpoint): the node stops; after the hold the failpoint goes and the node restarts and catches up", failpoints: true, run: runEIO("state-eio")},
		{Name: "raftlog-eio", Doc: "every Raft log write of the active fails with EIO (failpoint): the node stops; after the hold the failpoint goes and the node restarts and catches up", failpoints: true, run: runEIO("raftlog-eio")},
	}
}

// ChaosScenarioNames are the names of ChaosScenarios.
func ChaosScenarioNames() []string {
	var out []string
	for _, s := range ChaosScenarios() {
		out = append(out, s.Name)
	}
	return out
}

func chaosScenario(name string) (ChaosScenario, error) {
	for _, s := range ChaosScenarios() {
		if s.Name == name {
			return s, nil
		}
	}
	return ChaosScenario{}, fmt.Errorf("bench: unknown chaos scenario %q (want one of %s)", name, strings.Join(ChaosScenarioNames(), ", "))
}

// chaos is what a scenario works with: the cluster, its faults, the load.
type chaos struct {
	lo    *LocalOptions
	p     *procCluster
	net   *faultnet.Net
	fleet *loadtest.Fleet
	log   *faultLog
	rnd   *rand.Rand
}

// fault is one fault in force.
type fault struct {
	c    *chaos
	id   int // the recorder's
	end  func()
	heal func() error
}

// inject records a fault of kind on target, rule saying which answers
// count as the registers' resuming, and applies it.
func (c *chaos) inject(kind, target string, rule resumeRule, apply, heal func() error) (*fault, error) {
	at := time.Now()
	f := &fault{c: c, id: c.fleet.Recorder().FaultStart(kind, rule.Silent), heal: heal}
	f.end = c.log.injectedRule(kind, target, rule, at)
	if err := apply(); err != nil {
		return nil, errors.Join(err, f.over())
	}
	return f, nil
}

// over ends the fault: it heals, and the silenced node's answers count
// from now on.
func (f *fault) over() error {
	err := f.heal()
	f.c.fleet.Recorder().FaultBack(f.id)
	f.end()
	return err
}

// cut drops rules as a fault of kind on target.
func (c *chaos) cut(kind, target string, rule resumeRule, rules []faultnet.Rule) (*fault, error) {
	var b strings.Builder
	for i, r := range rules {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.describe(r))
	}
	c.lo.progressf("fault: %s %s: %s", kind, target, b.String())
	return c.inject(kind, target, rule, func() error { return c.net.Drop(rules...) }, c.net.Heal)
}

// describe names a rule's users and port by node.
func (c *chaos) describe(r faultnet.Rule) string {
	who := "root"
	for id, u := range c.p.users {
		if u.UID == r.UID {
			who = id
		}
	}
	if r.NotUID {
		who = "anyone but " + who
	}
	return fmt.Sprintf("%s -> %s dropped", who, c.portName(r.Port))
}

func (c *chaos) portName(pt int) string {
	for i, id := range c.p.ids {
		switch pt {
		case port(c.p.raft[i]):
			return id + " raft"
		case port(c.p.reg[i]):
			return id + " registers"
		}
	}
	if pt == port(c.p.acqAddr) {
		return "acquirer"
	}
	return fmt.Sprint(pt)
}

// warm waits for the load to be under way: an active serving and a few
// answers per register.
func (c *chaos) warm(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, chaosBound)
	defer cancel()
	want := int64(2*c.lo.Load.Registers + 100)
	for c.fleet.Snapshot().Completed < want {
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return fmt.Errorf("bench: the load did not get under way (%d of %d answers): %w", c.fleet.Snapshot().Completed, want, ctx.Err())
		}
	}
	return nil
}

// active is the serving active now.
func (c *chaos) active(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, chaosBound)
	defer cancel()
	return c.p.waitLeader(ctx)
}

// hold lets the fault last d (the fault itself is timed; every other wait
// is for a state).
func (c *chaos) hold(ctx context.Context, d time.Duration) {
	c.lo.progressf("fault: holding for %s", d)
	sleepCtx(ctx, d)
}

// settle waits, after a fault ended, for every register to be answered
// again and every node to have caught up with the leader.
func (c *chaos) settle(ctx context.Context, f *fault) error {
	c.waitResumed(ctx, f)
	return c.waitCaughtUp(ctx)
}

// waitResumed waits until every register that was answered in the run
// was answered again after the fault (at most chaosBound: the report
// says how many did).
func (c *chaos) waitResumed(ctx context.Context, f *fault) {
	ctx, cancel := context.WithTimeout(ctx, chaosBound)
	defer cancel()
	for {
		faults := c.fleet.Recorder().Summary().Faults
		if f.id < len(faults) && faults[f.id].Resumed >= faults[f.id].Registers {
			return
		}
		if !sleepCtx(ctx, 250*time.Millisecond) {
			c.lo.progressf("fault: not every register resumed within %s", chaosBound)
			return
		}
	}
}

// waitCaughtUp waits until every node runs, knows the leader and has
// applied what the leader had applied when the wait began.
func (c *chaos) waitCaughtUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, chaosBound)
	defer cancel()
	lead, err := c.p.waitLeader(ctx)
	if err != nil {
		return err
	}
	target, err := c.p.status(ctx, lead)
	if err != nil {
		return err
	}
	for _, id := range c.p.ids {
		for {
			st, err := c.p.status(ctx, id)
			if err == nil && st.LeaderID != "" && st.AppliedIndex >= target.AppliedIndex {
				break
			}
			if !sleepCtx(ctx, 100*time.Millisecond) {
				return fmt.Errorf("bench: %s did not catch up with %s (index %d): %v: %w", id, lead, target.AppliedIndex, err, ctx.Err())
			}
		}
	}
	return nil
}

// status reads node id's /status.
func (p *procCluster) status(ctx context.Context, id string) (adminapi.Status, error) {
	c, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return p.adminClient(p.index(id)).Status(c)
}

// holdOf is the scenario's hold: LocalOptions.ChaosHold or the default.
func (c *chaos) holdOf() time.Duration {
	if c.lo.ChaosHold > 0 {
		return c.lo.ChaosHold
	}
	return DefaultChaosHold
}

// runCut is the shape of the network scenarios: warm up, pick the rules
// from the active, cut, hold, heal, settle.
func (c *chaos) runCut(ctx context.Context, kind string, pick func(active string) (target string, rule resumeRule, rules []faultnet.Rule)) error {
	if err := c.warm(ctx); err != nil {
		return err
	}
	a, err := c.active(ctx)
	if err != nil {
		return err
	}
	target, rule, rules := pick(a)
	f, err := c.cut(kind, target, rule, rules)
	if err != nil {
		return err
	}
	c.hold(ctx, c.holdOf())
	if err := f.over(); err != nil {
		return err
	}
	c.lo.progressf("fault: healed")
	return c.settle(ctx, f)
}
