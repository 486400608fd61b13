package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/inflight"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/node/standin"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Log keys, so that every line names the same things the same way.
const (
	keyErr      = "err"
	keyID       = "txn"
	keyMTI      = "mti"
	keySTAN     = "stan"
	keyTerminal = "terminal"
	keyPAN      = "pan"
	keyRemote   = "remote"
	keyTerm     = "term"
)

// stateFile is the replicated state inside DataDir; Raft's files live in
// DataDir/raft.
const stateFile = "state.db"

// Node is one tillgate daemon.
type Node struct {
	cfg     Config
	log     *slog.Logger
	codec   *wire.Codec
	metrics *metrics
	reg     *registerer // what this node registered on cfg.Registry

	store *store.Store
	raft  *cluster.Cluster
	vault *store.Vault
	relay *relay // a standby's link to the active

	regs  *registerServer
	admin *http.Server

	views    *leadership.Tracker
	leaders  leadership.History // every (term, leader) seen, for GET /leaders
	inflight *inflight.Table
	standIns *standin.Reservations // stand-ins decided, not yet committed

	acquirers *upstream.Set
	acqNames  []string                 // sorted
	safWake   map[string]chan struct{} // by acquirer: wakes its SAF sender

	page statusPage // the operator's status page: recent declines, samples

	sched   schedule      // the business day's cutover schedule
	dayPoke chan struct{} // wakes the active's business-day loop
	dayMu   sync.Mutex    // held by the business-day pass that runs

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}
	errc   chan error
	closed sync.Once
}

// New checks cfg and returns a node that is not started yet.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node: config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Logger = cfg.Logger.With("node", cfg.ID)
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger,
		codec:    wire.NewCodec(cfg.dialect()),
		views:    leadership.NewTracker(),
		inflight: inflight.New(),
		standIns: standin.NewReservations(),
		ready:    make(chan struct{}),
		errc:     make(chan error, 1),
		dayPoke:  make(chan struct{}, 1),
	}
	n.sched, _ = cfg.BusinessDay.schedule() // Validate checked it
	n.relay = newRelay(n)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// Start opens the state, joins the cluster, connects to the acquirer and
// starts listening. It returns once every listener is bound; Ready is
// closed then.
func (n *Node) Start() error {
	if err := n.open(); err != nil {
		n.Close()
		return err
	}
	close(n.ready)
	return nil
}

func (n *Node) open() error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("node: data dir: %w", err)
	}
	key, err := store.LoadKeyFile(n.cfg.CardKeyFile)
	if err != nil {
		return fmt.Errorf("node: card key: %w", err)
	}
	if n.vault, err = store.NewVault(key); err != nil {
		return fmt.Errorf("node: card key %s: %w", n.cfg.CardKeyFile, err)
	}
	// The state file is not fsynced: Raft's log is the durable copy, and
	// the store rebuilds from it after a crash (store.Options.NoSync).
	if n.store, err = store.Open(filepath.Join(n.cfg.DataDir, stateFile), store.Options{Logger: n.log, NoSync: true, CommitHook: n.cfg.StateCommitHook}); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.raft, err = cluster.Open(n.cfg.clusterConfig(), n.store); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	list, def := n.cfg.acquirerList()
	if n.acquirers, err = upstream.Open(list, def, n.codec.Dialect(), n.log); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.acqNames = n.acquirers.Names()
	n.safWake = map[string]chan struct{}{}
	for _, name := range n.acquirers.Names() {
		n.safWake[name] = make(chan struct{}, 1)
	}
	n.reg = &registerer{reg: n.cfg.Registry}
	n.metrics = newMetrics(n.reg, n)
	n.removeServeLeftovers()
	n.wg.Add(2)
	go n.watchLeadership()
	go n.relay.run(n.ctx)
	if n.regs, err = startRegisterServer(n); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.cfg.AdminAddr != "" {
		if n.admin, err = n.startAdmin(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	n.log.Info("node started", "registers", n.cfg.RegisterAddr, "raft", n.cfg.RaftAddr, "admin", n.cfg.AdminAddr)
	return nil
}

// Ready is closed once Start has bound every listener.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Err delivers a fatal error that stopped the node from serving.
func (n *Node) Err() <-chan error { return n.errc }

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// Store gives tests and tools read access to the replicated state.
func (n *Node) Store() *store.Store { return n.store }

// IsLeader reports whether this node is the Raft leader right now.
func (n *Node) IsLeader() bool { return n.raft != nil && n.raft.IsLeader() }

// Serving reports whether this node is the active and has finished taking
// over (Barrier, open INTENTs claimed): from then on it authorizes.
func (n *Node) Serving() bool {
	return n.views.Current().Active()
}

// halted reports why this node must not act any more (its state machine
// or its Raft log failed), or nil. It stays up only until its supervisor
// (or the test) closes it; meanwhile it must not reach the acquirer, where
// whatever it did could never be recorded.
func (n *Node) halted() error {
	if err := n.store.Failure(); err != nil {
		return err
	}
	if n.raft == nil {
		return nil
	}
	return n.raft.FailErr()
}

func (n *Node) fail(err error) {
	select {
	case n.errc <- err:
	default:
	}
}

// Close stops the node. Registers go first so no new work starts, then the
// relay to the active; Raft next, so that nothing more commits: work still
// in flight then ends with no answer, exactly as after a crash, and the next
// active resolves its INTENTs. The acquirer link after that, and the state
// last because Raft applies into it until it is shut down.
func (n *Node) Close() error {
	var errs []error
	n.closed.Do(func() {
		n.cancel()
		if n.regs != nil {
			errs = append(errs, n.regs.stop())
		}
		// Relays still waiting end with no answer: the register repeats.
		n.relay.close()
		if n.admin != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			errs = append(errs, n.admin.Shutdown(ctx))
			cancel()
		}
		if n.raft != nil {
			errs = append(errs, n.raft.Close())
		}
		if n.acquirers != nil {
			errs = append(errs, n.acquirers.Close())
		}
		n.wg.Wait()
		if n.store != nil {
			errs = append(errs, n.store.Close())
		}
		if n.reg != nil {
			n.reg.unregisterAll()
		}
	})
	return errors.Join(errs...)
}

// registerAddrOf maps a Raft server id to the register address registers
// should use.
func (n *Node) registerAddrOf(id string) string {
	for _, p := range n.cfg.Peers {
		if p.ID == id {
			return p.RegisterAddr
		}
	}
	return ""
}
