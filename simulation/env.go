package simulation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// Timings of the cluster under simulation. Raft keeps the timings the
// system tests use: at LAN timings a starved 2-core box looks like a
// paused leader. The acquirer timeout is short so that slow and late
// acquirer faults end in timeouts, unknown outcomes and reversals.
const (
	acquirerTimeout = 1500 * time.Millisecond
	nodeCount       = 3
	acqsimDir       = "acqsim" // the acquirer simulator's data, in the seed's directory
)

// errInjectedCommit is the failure an armed commit hook returns.
var errInjectedCommit = errors.New("simulation: injected state-file commit failure")

// env is one seed's acquirer simulator and cluster. Its methods are safe
// for concurrent use: fault lanes, node watchers and the heal step start
// and stop nodes.
type env struct {
	log    *slog.Logger
	acq    *sim.Sim
	admins []*adminapi.Client
	hooks  []*commitHook

	mu       sync.Mutex
	cl       *localcluster.Cluster
	stops    []chan struct{} // per node: closed when its running instance is stopped
	failures []string        // nodes that stopped by themselves (Err), with why
}

// commitHook is a node's StateCommitHook: armed, it lets `left` more
// commits through and then fails every commit, as a failing disk would.
type commitHook struct {
	armed atomic.Bool
	left  atomic.Int64
	fired atomic.Int64 // unix nanos of the first failure since armed; 0 none
}

func (h *commitHook) commit() error {
	if !h.armed.Load() || h.left.Add(-1) >= 0 {
		return nil
	}
	h.fired.CompareAndSwap(0, time.Now().UnixNano())
	return errInjectedCommit
}

func (h *commitHook) arm(left int) {
	h.fired.Store(0)
	h.left.Store(int64(left))
	h.armed.Store(true)
}

// disarm stops failing and reports whether the hook fired.
func (h *commitHook) disarm() bool {
	h.armed.Store(false)
	return h.fired.Load() != 0
}

// startEnv starts the acquirer simulator and a 3-node cluster in dir.
func startEnv(ctx context.Context, dir string, log *slog.Logger) (*env, error) {
	// Strict: duplicate detection, 25s, STAN reuse, host echoes, as a
	// real host does.
	acq, err := sim.Open(sim.Config{
		Strict:       true,
		StrictConfig: sim.StrictConfig{EchoEvery: 2 * time.Second, EchoTimeout: 5 * time.Second},
		Addr:         "127.0.0.1:0",
		DataDir:      filepath.Join(dir, acqsimDir),
		Latency:      sim.Latency{Min: 0, Max: 3 * time.Millisecond},
		Dialect:      wire.DefaultDialect(),
		Logger:       log,
	})
	if err != nil {
		return nil, fmt.Errorf("simulation: acquirer simulator: %w", err)
	}
	e := &env{log: log, acq: acq, stops: make([]chan struct{}, nodeCount)}
	for range nodeCount {
		e.hooks = append(e.hooks, &commitHook{})
	}
	if err := e.startCluster(dir); err != nil {
		acq.Close()
		return nil, err
	}
	if _, err := e.waitLeader(ctx, 30*time.Second); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// startCluster starts the nodes on ports of a range of the simulation's
// own: a stopped node's ports stay free while it is down, and another
// test package must not be handed them meanwhile.
func (e *env) startCluster(dir string) error {
	base, err := freeBlock(2000, 7000, 3*nodeCount)
	if err != nil {
		return err
	}
	cl, err := localcluster.Start(localcluster.Options{
		Dir: dir, Nodes: nodeCount, AcquirerAddr: e.acq.Addr(), Logger: e.log,
		RegisterBase: base, RaftBase: base + nodeCount, AdminBase: base + 2*nodeCount,
		Tune: e.tune,
	})
	if err != nil {
		return fmt.Errorf("simulation: cluster: %w", err)
	}
	e.cl = cl
	for i, c := range cl.Configs {
		e.admins = append(e.admins, adminapi.NewClient(c.AdminAddr))
		e.watch(i)
	}
	return nil
}

// tune sets a node's timings and wires its commit hook.
func (e *env) tune(c *node.Config) {
	c.Raft.HeartbeatTimeout = time.Second
	c.Raft.ElectionTimeout = time.Second
	c.Raft.LeaderLeaseTimeout = 500 * time.Millisecond
	c.Acquirer.Timeout = acquirerTimeout
	c.Acquirer.Conns = 2
	c.SAF = node.SAFConfig{MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second, SkipAfter: 5, Poll: 250 * time.Millisecond}
	c.StandIn = node.StandInPolicy{Enabled: true, FloorLimit: 5000}
	i, _ := strconv.Atoi(c.ID[len("node"):])
	c.StateCommitHook = e.hooks[i-1].commit
}

// freeBlock finds n consecutive loopback ports in [lo, hi) free a moment ago.
func freeBlock(lo, hi, n int) (int, error) {
	for range 200 {
		base := lo + rand.IntN(hi-lo-n)
		if blockFree(base, n) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("simulation: no %d free consecutive ports in %d-%d", n, lo, hi-1)
}

func blockFree(base, n int) bool {
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for p := base; p < base+n; p++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		held = append(held, ln)
	}
	return true
}

// watch stops node i when it reports a fatal error, as a supervisor
// would; the fault that caused it, or the heal step, starts it again.
func (e *env) watch(i int) {
	n, stop := e.cl.Nodes[i], make(chan struct{})
	e.stops[i] = stop
	go func() {
		select {
		case err := <-n.Err():
			e.nodeFailed(i, n, err)
		case <-stop:
		}
	}()
}

func (e *env) nodeFailed(i int, n *node.Node, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cl.Nodes[i] != n {
		return
	}
	e.failures = append(e.failures, fmt.Sprintf("%s at %s: %v", n.ID(), time.Now().Format("15:04:05.000"), err))
	e.log.Warn("simulation: node stopped by its own error", "node", n.ID(), "err", err)
	e.stopLocked(i)
}

// nodeID names node i.
func (e *env) nodeID(i int) string { return e.cl.Configs[i].ID }

// leader is the index of the node that leads and serves, or -1.
func (e *env) leader() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cl.Leader()
}

// waitLeader polls until a node leads and serves.
func (e *env) waitLeader(ctx context.Context, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		if i := e.leader(); i >= 0 {
			return i, nil
		}
		if time.Now().After(deadline) || !sleepCtx(ctx, 50*time.Millisecond) {
			return -1, fmt.Errorf("simulation: no serving leader within %v", d)
		}
	}
}

// follower is the index of a running node that does not lead, or -1.
func (e *env) follower() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.cl.Leader()
	for i, n := range e.cl.Nodes {
		if n != nil && i != l {
			return i
		}
	}
	return -1
}

func (e *env) running(i int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cl.Nodes[i] != nil
}

func (e *env) stopNode(i int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopLocked(i)
}

func (e *env) stopLocked(i int) {
	if e.cl.Nodes[i] == nil {
		return
	}
	close(e.stops[i])
	if err := e.cl.StopNode(i); err != nil {
		e.log.Warn("simulation: node close", "node", e.nodeID(i), "err", err)
	}
}

// startNode starts node i from its data if it is stopped. A restart can
// race the kernel's release of its old ports: it retries for a while.
func (e *env) startNode(ctx context.Context, i int) error {
	var err error
	for range 50 {
		if err = e.tryStart(i); err == nil {
			return nil
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			break
		}
	}
	return fmt.Errorf("simulation: restart %s: %w", e.nodeID(i), err)
}

func (e *env) tryStart(i int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cl.Nodes[i] != nil {
		return nil
	}
	if err := e.cl.StartNode(i); err != nil {
		e.cl.Nodes[i] = nil
		return err
	}
	e.watch(i)
	return nil
}

// restartNode stops node i and starts it again from its data.
func (e *env) restartNode(ctx context.Context, i int) error {
	e.stopNode(i)
	return e.startNode(ctx, i)
}

// nodeFailures lists the nodes that stopped by themselves so far.
func (e *env) nodeFailures() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.failures...)
}

// close stops the nodes, then the acquirer simulator they talk to.
func (e *env) close() {
	e.mu.Lock()
	for i := range e.cl.Nodes {
		e.stopLocked(i)
	}
	e.mu.Unlock()
	e.acq.Close()
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
