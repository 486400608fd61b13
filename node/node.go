package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/admin"
	"github.com/tillgate/tillgate/node/businessday"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/node/payments"
	"github.com/tillgate/tillgate/node/pipeline"
	"github.com/tillgate/tillgate/node/relay"
	"github.com/tillgate/tillgate/node/reseal"
	"github.com/tillgate/tillgate/node/saf"
	"github.com/tillgate/tillgate/node/server"
	"github.com/tillgate/tillgate/node/takeover"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/node/webhooks"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// stateFile is the replicated state inside DataDir; Raft's files live in
// DataDir/raft.
const stateFile = "state.db"

// Node is one tillgate daemon: the parts of package node's sub-packages,
// wired together, started and stopped in order.
type Node struct {
	cfg    Config
	log    *slog.Logger
	codec  *wire.Codec
	reg    *registerer // what this node registered on cfg.Registry
	regTLS *tls.Config // the register listener's TLS; nil: plain TCP
	health *health

	vault     *store.Vault
	store     *store.Store
	raft      *cluster.Cluster
	acquirers *upstream.Set
	views     *leadership.Tracker
	leaders   *leadership.History // every (term, leader) seen, for GET /leaders
	relay     *relay.Relay        // a standby's link to the active
	forwarder *saf.Forwarder
	hooks     *webhooks.Deliverer // merchant notification, on the active
	days      *businessday.Service
	resealer  *reseal.Resealer
	page      *admin.StatusPage
	pipeline  *pipeline.Pipeline
	watcher   *takeover.Watcher
	regs      *server.Server
	admin     *admin.Server
	payments  *payments.Server // nil without api_addr

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
		cfg:     cfg,
		log:     cfg.Logger,
		codec:   wire.NewCodec(cfg.dialect()),
		views:   leadership.NewTracker(),
		leaders: &leadership.History{},
		ready:   make(chan struct{}),
		errc:    make(chan error, 1),
	}
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

// open starts the parts bottom up: the state and the log, the links out
// (acquirers), the parts that work on them, then the doors in (registers,
// admin).
func (n *Node) open() error {
	if err := n.openState(); err != nil {
		return err
	}
	list, def := n.cfg.acquirerList()
	var err error
	if n.cfg.RegisterTLS.Enabled() {
		if n.regTLS, err = n.cfg.RegisterTLS.Load(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if n.acquirers, err = upstream.Open(list, def, n.codec.Dialect(), n.log); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.reg = &registerer{reg: n.cfg.Registry}
	n.build(relayTLS(n.cfg.RegisterTLS))
	n.days.RemoveServeLeftovers()
	n.wg.Go(func() { n.health.watch(n.ctx) })
	n.wg.Go(func() { n.watcher.Run(n.ctx) })
	n.wg.Go(func() { n.relay.Run(n.ctx) })
	if err := n.openDoors(); err != nil {
		return err
	}
	n.log.Info("node started", "registers", n.cfg.RegisterAddr, "registers_tls", n.regTLS != nil,
		"raft", n.cfg.RaftAddr, "raft_tls", n.cfg.RaftTLS.Enabled(), "admin", n.cfg.AdminAddr, "api", n.cfg.APIAddr)
	return nil
}

// vaultHolds reports whether the vault holds key id, reading the key
// directory again if not.
func (n *Node) vaultHolds(id uint8) bool {
	if _, ok := n.vault.Check(id); ok {
		return true
	}
	if err := n.vault.Reload(); err != nil {
		n.log.Error("card keys", "err", err)
	}
	_, ok := n.vault.Check(id)
	return ok
}

// openState opens the card vault, the replicated state and the Raft log.
func (n *Node) openState() error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("node: data dir: %w", err)
	}
	var err error
	if n.vault, err = store.LoadVault(n.cfg.CardKeyFile, n.cfg.CardKeyDir); err != nil {
		return fmt.Errorf("node: card keys: %w", err)
	}
	// The state file is not fsynced: Raft's log is the durable copy, and
	// the store rebuilds from it after a crash (store.Options.NoSync).
	if n.store, err = store.Open(filepath.Join(n.cfg.DataDir, stateFile), store.Options{Logger: n.log, NoSync: true, CommitHook: n.cfg.StateCommitHook}); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	// The key that seals is the cluster's (store op 14), not this node's.
	n.vault.Follow(n.store.CardKeys)
	if id := n.store.CardKeys().Sealing(); !n.vaultHolds(id) {
		return fmt.Errorf("node: card key %d seals in this cluster but this node does not hold it: copy %d.key (mode 0600) from another node into card_key_dir %q", id, id, n.cfg.CardKeyDir)
	}
	// Into the config itself: whatever else trusts the cluster's CA (the
	// admin API's peer client) reads it from Raft.TLS.
	if n.cfg.RaftTLS.Enabled() {
		if n.cfg.Raft.TLS, err = n.cfg.RaftTLS.load(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if n.raft, err = cluster.Open(n.cfg.clusterConfig(), n.store); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.health = &health{store: n.store, raft: n.raft, errc: n.errc}
	return nil
}

// openDoors starts the register listener, the payments API and the admin
// API.
func (n *Node) openDoors() error {
	var err error
	if n.regs, err = server.Start(server.Config{
		Addr: n.cfg.RegisterAddr, Codec: n.codec, TLS: n.regTLS, Nodes: n.peerIDs(), NodeHosts: n.peerHosts(), MaxConns: n.cfg.MaxConns, IdleTimeout: n.cfg.IdleTimeout,
		MaxConnsPerIP: n.cfg.MaxConnsPerIP, MaxInflight: n.cfg.MaxInflightPerConn, WriteBufferCap: n.cfg.WriteBufferCap,
		AcceptRate: n.cfg.AcceptRate, AcceptBurst: n.cfg.AcceptBurst,
		RequestTimeout: n.cfg.requestTimeout(), Handler: n.pipeline, Refuser: n.pipeline, Fail: n.health.Fail,
		Logger: n.log, Registerer: n.reg,
	}); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.cfg.APIAddr != "" {
		tc, forward, err := n.cfg.apiTLS()
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		n.payments = n.paymentsAPI(tc, forward)
		if err := n.payments.Start(); err != nil {
			n.payments = nil
			return fmt.Errorf("node: %w", err)
		}
	}
	if n.cfg.AdminAddr == "" {
		return nil
	}
	tokens, err := n.cfg.adminTokens()
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	tc, err := n.cfg.adminTLS()
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.admin, err = admin.Start(n.adminConfig(tokens, tc)); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.wg.Go(func() { n.page.Run(n.ctx) })
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
func (n *Node) Serving() bool { return n.views.Current().Active() }

// Close stops the node. Registers go first so no new work starts, then the
// relay to the active; Raft next, so that nothing more commits: work still
// in flight then ends with no answer, exactly as after a crash, and the next
// active resolves its INTENTs. The acquirer links after that, and the state
// last because Raft applies into it until it is shut down.
func (n *Node) Close() error {
	var errs []error
	n.closed.Do(func() {
		n.cancel()
		if n.regs != nil {
			errs = append(errs, n.regs.Stop())
		}
		// Relays still waiting end with no answer: the register repeats.
		if n.relay != nil {
			n.relay.Close()
		}
		if n.payments != nil {
			// Calls in progress end as after a crash: the payment is
			// recorded, its INTENT resolved by the next active, and the
			// client's retry finds the outcome.
			errs = append(errs, n.payments.Shutdown())
		}
		if n.admin != nil {
			errs = append(errs, n.admin.Shutdown())
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

// peerIDs are the ids of the cluster's voters.
// peerHosts are the hosts of the cluster's nodes (Raft and register
// addresses, names as written): the register listener exempts their relays
// from the per-connection in-flight cap.
func (n *Node) peerHosts() []string {
	var hosts []string
	for _, p := range n.cfg.Peers {
		for _, a := range []string{p.RaftAddr, p.RegisterAddr} {
			if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

func (n *Node) peerIDs() []string {
	ids := make([]string, len(n.cfg.Peers))
	for i, p := range n.cfg.Peers {
		ids[i] = p.ID
	}
	return ids
}

// apiAddrOf maps a Raft server id to its payments API address.
func (n *Node) apiAddrOf(id string) string {
	for _, p := range n.cfg.Peers {
		if p.ID == id {
			return p.APIAddr
		}
	}
	return ""
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
