package cluster

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// Peer is one member of the cluster: its Raft server ID and Raft address
// (host:port).
type Peer struct {
	ID, Addr string
}

// Config configures one node. Zero values take the defaults of
// DefaultConfig, so Config{ID: .., Dir: .., BindAddr: ..} is usable.
type Config struct {
	ID            string // Raft server ID, unique for all time
	Dir           string // raft.db (term, vote), log/ and snapshots/ live here
	BindAddr      string // Raft TCP listen address, e.g. "0.0.0.0:7000"
	AdvertiseAddr string // address peers dial; empty = the bound address

	// Peers is the initial voter set; used only when Bootstrap is set and the
	// node has no Raft state yet. Every bootstrapping node must list the same
	// peers. Empty with Bootstrap: a single-node cluster of this node.
	Peers     []Peer
	Bootstrap bool

	// Raft timings: see DefaultConfig for the values and why.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// Snapshots and log compaction.
	SnapshotThreshold uint64        // entries since the last snapshot before the next
	SnapshotInterval  time.Duration // how often the threshold is checked
	TrailingLogs      uint64        // entries kept behind a snapshot for slow followers

	MaxAppendEntries int           // entries per append RPC and per group commit (<= 1024)
	LogCacheSize     int           // recent entries kept in memory for replication
	ApplyTimeout     time.Duration // Apply/Barrier/membership deadline when ctx has none

	Logger *slog.Logger // nil: discard

	// TLS, if set, carries every Raft connection over mutual TLS: it holds
	// this node's certificate (which must name its Raft address) and the
	// cluster CA as both ClientCAs and RootCAs. A peer that presents no
	// certificate of that CA is refused at the handshake, before any RPC:
	// whoever reaches the Raft port can no longer append entries. nil:
	// plain TCP.
	TLS *tls.Config

	// WriteHook, if set, runs before every write to the Raft log; an error
	// fails the write as a disk error would, and the node's Raft stops
	// (fail-stop). Fault tests only; nil in production.
	WriteHook func() error
}

// Defaults. The timings are for a LAN of three nodes and aim at a failover
// of about a second without false elections on a busy 2-core machine:
//
//   - HeartbeatTimeout 500 ms: a follower starts an election after 500 ms to
//     1 s (raft randomises up to 2x) without hearing from the leader. The
//     leader heartbeats every 50-100 ms (timeout/10), so a false election
//     needs a stall of 5-10 heartbeats: a GC or CPU-starvation pause of that
//     length is rare; ~300 ms (FACTS) is too close to such pauses under load.
//   - ElectionTimeout 500 ms: only matters when a vote is split; the first
//     candidate usually wins in one round trip.
//   - LeaderLeaseTimeout 500 ms (raft allows at most HeartbeatTimeout): an
//     isolated leader steps down after this long without a quorum. Nothing
//     reads under the lease (every decision is a committed entry), so the
//     lease only bounds how long a cut-off active keeps accepting requests
//     that cannot commit; equal to the heartbeat it avoids step-downs caused
//     by the same short stalls that we tolerate on followers.
//   - CommitTimeout 50 ms (raft's default): does not delay commits on the
//     leader (new entries trigger replication at once); it is how soon an
//     idle follower learns the commit index, and each tick is an RPC per
//     follower, so smaller only costs CPU on an idle cluster.
//
// Tests that run on starved machines can raise all four.
const (
	DefaultHeartbeatTimeout   = 500 * time.Millisecond
	DefaultElectionTimeout    = 500 * time.Millisecond
	DefaultLeaderLeaseTimeout = 500 * time.Millisecond
	DefaultCommitTimeout      = 50 * time.Millisecond
	DefaultSnapshotThreshold  = 8192
	DefaultSnapshotInterval   = 2 * time.Minute
	DefaultTrailingLogs       = 10240
	DefaultMaxAppendEntries   = 1024 // raft's maximum: the largest group commit
	DefaultLogCacheSize       = 8192
	DefaultApplyTimeout       = 10 * time.Second
)

const (
	snapshotsRetained = 2
	transportMaxPool  = 3
	transportTimeout  = 10 * time.Second
	boltLockTimeout   = time.Second
)

// DefaultConfig returns a Config with every tunable set; ID, Dir, BindAddr,
// Peers and Bootstrap are left to the caller.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   DefaultHeartbeatTimeout,
		ElectionTimeout:    DefaultElectionTimeout,
		LeaderLeaseTimeout: DefaultLeaderLeaseTimeout,
		CommitTimeout:      DefaultCommitTimeout,
		SnapshotThreshold:  DefaultSnapshotThreshold,
		SnapshotInterval:   DefaultSnapshotInterval,
		TrailingLogs:       DefaultTrailingLogs,
		MaxAppendEntries:   DefaultMaxAppendEntries,
		LogCacheSize:       DefaultLogCacheSize,
		ApplyTimeout:       DefaultApplyTimeout,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDur(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDur(&c.ElectionTimeout, d.ElectionTimeout)
	setDur(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDur(&c.CommitTimeout, d.CommitTimeout)
	setDur(&c.SnapshotInterval, d.SnapshotInterval)
	setDur(&c.ApplyTimeout, d.ApplyTimeout)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	if c.MaxAppendEntries == 0 {
		c.MaxAppendEntries = d.MaxAppendEntries
	}
	if c.LogCacheSize == 0 {
		c.LogCacheSize = d.LogCacheSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDur(v *time.Duration, def time.Duration) {
	if *v == 0 {
		*v = def
	}
}

// validate checks what raft would otherwise reject with a less helpful
// message, plus our own fields. Call it on a Config with defaults applied.
func (c Config) validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: ID is empty", ErrInvalidConfig)
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrInvalidConfig)
	case c.BindAddr == "":
		return fmt.Errorf("%w: BindAddr is empty", ErrInvalidConfig)
	case c.LogCacheSize < 0:
		return fmt.Errorf("%w: LogCacheSize %d is negative", ErrInvalidConfig, c.LogCacheSize)
	case c.ApplyTimeout < 0:
		return fmt.Errorf("%w: ApplyTimeout %s is negative", ErrInvalidConfig, c.ApplyTimeout)
	}
	if err := c.validatePeers(); err != nil {
		return err
	}
	if err := raft.ValidateConfig(c.raftConfig(nil, false)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func (c Config) validatePeers() error {
	seen := make(map[string]bool, len(c.Peers))
	self := false
	for _, p := range c.Peers {
		if p.ID == "" || p.Addr == "" {
			return fmt.Errorf("%w: peer %q/%q needs both ID and Addr", ErrInvalidConfig, p.ID, p.Addr)
		}
		if seen[p.ID] {
			return fmt.Errorf("%w: peer %q listed twice", ErrInvalidConfig, p.ID)
		}
		seen[p.ID] = true
		self = self || p.ID == c.ID
	}
	if c.Bootstrap && len(c.Peers) > 0 && !self {
		return fmt.Errorf("%w: Bootstrap with Peers that do not include this node (%q)", ErrInvalidConfig, c.ID)
	}
	return nil
}

// raftConfig maps Config onto raft's.
func (c Config) raftConfig(logger *hclogAdapter, durable bool) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.ID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.MaxAppendEntries = c.MaxAppendEntries
	// A buffered apply channel lets concurrent Apply calls queue up while the
	// leader is writing the previous batch, so the next batch is large: this
	// is the group commit. The price (raft's doc) is that Apply's timeout
	// only bounds the enqueue; Cluster.Apply bounds the wait with its ctx.
	rc.BatchApplyCh = true
	// A durable StateMachine (one with AppliedIndex, like store.Store)
	// commits the applied index in the same transaction as the data, so
	// after a restart it already holds at least the state of any local
	// snapshot. Restoring the snapshot on start would throw that state away
	// and rebuild it from an older copy; instead raft takes only the
	// snapshot's metadata and replays the entries after it, which the state
	// machine skips up to its own applied index. (Open restores the snapshot
	// itself in the one case where the state machine is behind it.) Any
	// other StateMachine gets raft's usual restore on start.
	rc.NoSnapshotRestoreOnStart = durable
	if logger != nil {
		rc.Logger = logger
	}
	return rc
}
