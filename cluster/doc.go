// Package cluster replicates tillgate's state machine with Raft
// (hashicorp/raft).
//
// It owns everything Raft needs on a node: the log store (segment files
// in log/, one write and one fdatasync per append, behind an in-memory log
// cache), the stable store (raft-boltdb: term and vote), the snapshot store,
// the TCP transport, bootstrap, membership changes, and a thin FSM that hands
// committed entries to a StateMachine in batches. Commands are opaque []byte:
// the package knows nothing of transactions.
//
// The three things callers rely on:
//
//   - Apply commits one command and returns the StateMachine's result. Many
//     concurrent Apply calls share one log append and one fsync (group
//     commit). Its errors say whether the command can have reached the log:
//     ErrNotLeader and ErrNotAppended mean it never did; ErrOutcomeUnknown
//     (and ErrLeadershipLost, which matches it) mean it may still commit.
//   - Leadership returns a size-1 channel that always holds the latest
//     leadership state. Raft never waits for its reader; a slow reader skips
//     intermediate states but never misses the latest one.
//   - The StateMachine is durable by itself and records the applied index in
//     the same transaction as the data, so Raft never restores a snapshot on
//     start and the state machine skips entries it has already applied.
//
// See DESIGN.md in this directory for the reasoning behind the defaults.
package cluster
