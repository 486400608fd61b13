package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Errors. Apply's errors answer one question: can the command have reached
// the log? ErrNotLeader and ErrNotAppended: no, never; the caller may retry
// or answer "not processed". ErrOutcomeUnknown (which ErrLeadershipLost
// also matches): perhaps; it may still commit under this or a later leader,
// so nothing final may be answered from it: duplicate detection and the
// takeover resolve it. Test with errors.Is.
var (
	// ErrNotLeader: this node is not the leader, or the leader is stepping
	// down or handing leadership over. The command was never appended:
	// send it to the leader (Leadership/Status name it).
	ErrNotLeader = errors.New("not the leader")
	// ErrNotAppended: the command was never appended for another reason:
	// Raft is shut down, the context ended before Apply started, or Raft's
	// queue stayed full until the deadline.
	ErrNotAppended = errors.New("command not appended")
	// ErrOutcomeUnknown: the command may have been appended; whether it
	// commits is unknown to this node (leadership lost, shutdown or the
	// context ending while waiting, a log write error).
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrLeadershipLost: leadership was lost while the command was in
	// flight. Always returned together with ErrOutcomeUnknown.
	ErrLeadershipLost = errors.New("leadership lost while committing")
	// ErrClosed: the Cluster was closed, or Raft shut itself down after this
	// node was removed from the cluster.
	ErrClosed = errors.New("cluster closed")
	// ErrInvalidConfig: Open was given an unusable Config.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrBadSnapshot: a snapshot does not start with tillgate's header.
	ErrBadSnapshot = errors.New("bad snapshot")
	// ErrOldLogFormat: raft.db holds log entries from an older version
	// that kept the Raft log there; the node must rejoin with an empty
	// data dir.
	ErrOldLogFormat = errors.New("raft log in an old format")
	// ErrStateMismatch: the state machine has applied entries that the
	// Raft state on disk knows nothing of.
	ErrStateMismatch = errors.New("state machine and Raft log do not belong together")
)

// Cluster is one Raft node replicating a StateMachine.
type Cluster struct {
	cfg       Config
	log       *slog.Logger
	localAddr string

	bolt     *raftboltdb.BoltStore // StableStore only
	logStore *logStore
	trans    *raft.NetworkTransport
	raft     *raft.Raft
	observer *raft.Observer

	feed      *leadershipFeed
	closed    chan struct{} // closed by Close: wakes waiters, stops the watcher
	failed    chan struct{} // closed when the log store fails: raft is shut down
	failOnce  sync.Once
	failErr   error // written before failed is closed
	watchDone chan struct{}
	deadDone  chan struct{} // watchDeadLeader returned
	// deadStands counts the elections this node started because its
	// leader's port refused connections (Status.DeadLeaderElections).
	deadStands atomic.Int64
	closeOnce  sync.Once
	closeErr   error
}

// Open starts a Raft node in cfg.Dir, bootstrapping the cluster with
// cfg.Peers when cfg.Bootstrap is set and the node has no state yet. A node
// that is not in the bootstrap configuration joins when the leader adds it
// (AddVoter). sm must outlive the Cluster: close it after Close.
func Open(cfg Config, sm StateMachine) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if sm == nil {
		return nil, fmt.Errorf("cluster: open: %w: nil StateMachine", ErrInvalidConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("cluster: open: %w", err)
	}
	c := &Cluster{
		cfg:       cfg,
		log:       cfg.Logger,
		feed:      newLeadershipFeed(),
		closed:    make(chan struct{}),
		failed:    make(chan struct{}),
		watchDone: make(chan struct{}),
		deadDone:  make(chan struct{}),
	}
	if err := c.open(sm); err != nil {
		c.closeStores()
		return nil, fmt.Errorf("cluster: open %s: %w", cfg.Dir, err)
	}
	// Non-blocking observer: raft drops an observation rather than wait
	// for us (see watchLeadership for why a drop is harmless).
	obs := make(chan raft.Observation, 16)
	c.observer = raft.NewObserver(obs, false, leadershipObservations)
	c.raft.RegisterObserver(c.observer)
	c.feed.publish(c.leadership())
	go c.watchLeadership(obs)
	go c.watchDeadLeader()
	return c, nil
}

// logDir holds the segment files of the Raft log, under Config.Dir.
const logDir = "log"

// open builds the stores, the transport and raft, in that order; on error
// the caller closes whatever was opened.
func (c *Cluster) open(sm StateMachine) error {
	if err := os.MkdirAll(c.cfg.Dir, 0o700); err != nil {
		return err
	}
	if err := c.openStores(); err != nil {
		return err
	}
	// The cache keeps recent entries decoded, so the leader replicates them
	// without reading back and decoding what it has just written.
	logs, err := raft.NewLogCache(c.cfg.LogCacheSize, c.logStore)
	if err != nil {
		return fmt.Errorf("log cache: %w", err)
	}
	hl := newHclog(c.log, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.cfg.Dir, snapshotsRetained, hl.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("snapshot store: %w", err)
	}
	if err := c.dropStaleLog(snaps); err != nil {
		return err
	}
	if c.trans, err = c.openTransport(hl); err != nil {
		return err
	}
	c.localAddr = string(c.trans.LocalAddr())
	_, durable := sm.(appliedIndexer)
	if durable {
		if err := c.checkPair(sm, logs, snaps); err != nil {
			return err
		}
		if err := c.catchUp(sm, snaps); err != nil {
			return err
		}
	}
	rc := c.cfg.raftConfig(hl, durable)
	if err := c.bootstrap(rc, logs, snaps); err != nil {
		return err
	}
	if c.raft, err = raft.NewRaft(rc, &fsm{sm: sm}, logs, c.bolt, snaps, c.trans); err != nil {
		return fmt.Errorf("raft: %w", err)
	}
	return nil
}

// openStores opens raft.db (raft-boltdb, now only the StableStore: term
// and vote) and the segment log store in log/.
func (c *Cluster) openStores() error {
	var err error
	// The lock timeout turns a second node on the same Dir into an error
	// instead of a hang (bbolt waits for its file lock forever by default).
	// The segment store has no lock of its own: this one guards the Dir.
	path := filepath.Join(c.cfg.Dir, "raft.db")
	c.bolt, err = raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{Timeout: boltLockTimeout}})
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("stable store %s: locked by another process: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("stable store %s: %w", path, err)
	}
	if err := refuseBoltLog(c.bolt, path); err != nil {
		return err
	}
	// fsync on: an entry acknowledged to the leader must survive a crash.
	opts := logStoreOptions{Logger: c.log, OnFail: c.storeFailed}
	if hook := c.cfg.WriteHook; hook != nil {
		opts.write = func(s *segment, b []byte) error {
			if err := hook(); err != nil {
				return err
			}
			return pwrite(s, b)
		}
	}
	c.logStore, err = openLogStore(filepath.Join(c.cfg.Dir, logDir), opts)
	return err
}

// storeFailed is the log store's OnFail: watchLeadership shuts raft down
// (it cannot be done here, on raft's main goroutine, which Shutdown waits
// for). A node whose log writes fail must stop taking part, not go on
// voting and being elected with a log it can no longer extend.
func (c *Cluster) storeFailed(err error) {
	c.failOnce.Do(func() {
		c.failErr = err
		close(c.failed)
	})
}

// Failed is closed once the log store has failed and Raft is stopping
// (fail-stop); FailErr then says why. The node must stop serving: restart
// it once the disk is sound (it checks its log on start).
func (c *Cluster) Failed() <-chan struct{} { return c.failed }

// FailErr is the log store's failure, once Failed is closed.
func (c *Cluster) FailErr() error {
	select {
	case <-c.failed:
		return c.failErr
	default:
		return nil
	}
}

// refuseBoltLog stops a node whose raft.db holds log entries: an older
// version kept the log there. Migrating is not worth its risk: the node
// rejoins empty and receives a snapshot from the leader.
func refuseBoltLog(bolt *raftboltdb.BoltStore, path string) error {
	first, err := bolt.FirstIndex()
	if err != nil {
		return fmt.Errorf("stable store %s: %w", path, err)
	}
	last, err := bolt.LastIndex()
	if err != nil {
		return fmt.Errorf("stable store %s: %w", path, err)
	}
	if first == 0 && last == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s holds Raft log entries %d-%d from an older tillgate that kept the log there; "+
		"the log now lives in %s/: stop the node, move its data dir away, start it with an empty data dir "+
		"and let it rejoin the cluster (the leader sends it a snapshot)",
		ErrOldLogFormat, path, first, last, logDir)
}

// dropStaleLog empties a log that ends before the latest local snapshot:
// raft saved an installed snapshot and the node stopped before raft
// deleted the old log. Every entry in it is covered by the snapshot, and
// the leader continues after the snapshot, which StoreLogs would refuse as
// a gap.
func (c *Cluster) dropStaleLog(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	first, _ := c.logStore.FirstIndex()
	last, _ := c.logStore.LastIndex()
	if last == 0 || last >= list[0].Index {
		return nil
	}
	c.log.Warn("log ends before the latest snapshot: deleting it", "first_index", first, "last_index", last, "snapshot_index", list[0].Index)
	return c.logStore.DeleteRange(first, last)
}

func (c *Cluster) openTransport(hl *hclogAdapter) (*raft.NetworkTransport, error) {
	var advertise net.Addr
	if c.cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", c.cfg.AdvertiseAddr)
		if err != nil {
			return nil, fmt.Errorf("advertise address %q: %w", c.cfg.AdvertiseAddr, err)
		}
		advertise = a
	}
	tc := &raft.NetworkTransportConfig{
		Logger: hl.Named("transport"), MaxPool: transportMaxPool, Timeout: transportTimeout,
		// No pipelined replication: hashicorp/raft v1.7's pipeline can
		// deadlock when a follower answers Success=false (its decoder
		// parks on doneCh, the next send on inprogressCh). Replication to
		// that follower then stops while heartbeats go on, and Shutdown
		// hangs: the fault suite caught a cut-off active that would not
		// stop after the heal (grafana/pyroscope#5518 is the same). One
		// AppendEntries in flight per follower, each up to
		// MaxAppendEntries entries, keeps group commit.
		MaxRPCsInFlight: 1,
	}
	if c.cfg.TLS != nil {
		stream, err := newTLSStream(c.cfg.BindAddr, advertise, c.cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("transport on %s: %w", c.cfg.BindAddr, err)
		}
		tc.Stream = stream
		return raft.NewNetworkTransportWithConfig(tc), nil
	}
	t, err := raft.NewTCPTransportWithConfig(c.cfg.BindAddr, advertise, tc)
	if err != nil {
		return nil, fmt.Errorf("transport on %s (an unspecified bind address needs AdvertiseAddr): %w", c.cfg.BindAddr, err)
	}
	return t, nil
}

// checkPair refuses a durable state machine that has applied entries while
// Raft has no state at all: the two files do not belong together (a backup
// copied in, a raft directory deleted). Starting anyway would skip every new
// entry up to the state machine's applied index and silently lose them.
func (c *Cluster) checkPair(sm StateMachine, logs raft.LogStore, snaps raft.SnapshotStore) error {
	has, err := raft.HasExistingState(logs, c.bolt, snaps)
	if err != nil || has {
		return err
	}
	if applied := sm.(appliedIndexer).AppliedIndex(); applied > 0 {
		return fmt.Errorf("%w: the state has applied Raft index %d but the Raft log in %s is empty "+
			"(see docs/backup-restore.md): move the state file away to rejoin empty",
			ErrStateMismatch, applied, c.cfg.Dir)
	}
	return nil
}

// catchUp restores the latest local snapshot into a durable state machine
// that is behind it. Raft itself skips the restore on start (see
// raftConfig), which is right except after a crash between a follower
// saving an installed snapshot and the state machine committing its
// restore: raft then believes the entries up to the snapshot are applied
// and may no longer have them in its log.
func (c *Cluster) catchUp(sm StateMachine, snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", list[0].ID, err)
	}
	defer rc.Close()
	snapApplied, err := readSnapshotHeader(rc)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", list[0].ID, err)
	}
	have := sm.(appliedIndexer).AppliedIndex()
	if have >= snapApplied {
		return nil
	}
	c.log.Warn("state machine is behind the latest snapshot: restoring it",
		"applied_index", have, "snapshot_applied_index", snapApplied, "snapshot", list[0].ID)
	if err := sm.Restore(io.NopCloser(rc)); err != nil {
		return fmt.Errorf("restore snapshot %s: %w", list[0].ID, err)
	}
	return nil
}

// bootstrap writes the initial configuration on a node with no state.
// Every bootstrapping node writes the same one; raft elects among them.
func (c *Cluster) bootstrap(rc *raft.Config, logs raft.LogStore, snaps raft.SnapshotStore) error {
	if !c.cfg.Bootstrap {
		return nil
	}
	has, err := raft.HasExistingState(logs, c.bolt, snaps)
	if err != nil || has {
		return err
	}
	var conf raft.Configuration
	for _, p := range c.cfg.Peers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
	}
	if len(conf.Servers) == 0 {
		conf.Servers = []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(c.cfg.ID), Address: c.trans.LocalAddr()}}
	}
	if err := raft.BootstrapCluster(rc, logs, c.bolt, snaps, c.trans, conf); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	c.log.Info("bootstrapped cluster", "servers", len(conf.Servers))
	return nil
}

// Close stops the node. The order matters: raft first, because until
// Shutdown returns its goroutines (main loop, replication, FSM, snapshots)
// still use the transport and the stores; then the transport (Shutdown
// already closes it; closing again is harmless and covers a failed
// shutdown); the log store last, when nothing can write to it. The
// StateMachine is not closed: raft may call it until Shutdown returns, so
// its owner closes it after Close. Safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.raft.DeregisterObserver(c.observer)
		errShutdown := c.raft.Shutdown().Error()
		<-c.watchDone
		<-c.deadDone
		c.feed.publish(c.leadership()) // the last word: not leader
		c.closeErr = errors.Join(errShutdown, c.closeStores())
		if c.closeErr != nil {
			c.closeErr = fmt.Errorf("cluster: close: %w", c.closeErr)
		}
	})
	return c.closeErr
}

// closeStores closes what open created, in reverse order of use.
func (c *Cluster) closeStores() error {
	var errs []error
	if c.trans != nil {
		errs = append(errs, c.trans.Close())
	}
	if c.logStore != nil {
		errs = append(errs, c.logStore.Close())
	}
	if c.bolt != nil {
		errs = append(errs, c.bolt.Close())
	}
	return errors.Join(errs...)
}
