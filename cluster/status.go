package cluster

import (
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Roles reported in Status.Role.
const (
	RoleFollower  = "follower"
	RoleCandidate = "candidate"
	RoleLeader    = "leader"
	RoleShutdown  = "shutdown"
)

// Suffrages reported in PeerStatus.Suffrage.
const (
	SuffrageVoter    = "voter"
	SuffrageNonvoter = "nonvoter"
	SuffrageStaging  = "staging"
)

// Status is a snapshot of this node's Raft state, for the admin API and
// tests. Every field is read separately, so they can be a moment apart.
type Status struct {
	ID, Addr   string // this node
	Role       string // RoleLeader, RoleFollower, RoleCandidate, RoleShutdown
	Term       uint64
	LeaderID   string // empty while no leader is known
	LeaderAddr string

	LastIndex         uint64 // last entry in the local log (or snapshot)
	CommitIndex       uint64 // highest entry known committed
	AppliedIndex      uint64 // raft's view: can be a batch ahead of or behind the state machine's own index for a moment
	LastSnapshotIndex uint64

	// LastContact is when this follower last heard from a leader; zero on
	// the leader and before any contact.
	LastContact time.Time

	// DeadLeaderElections counts the elections this node started because
	// its leader's Raft port refused connections (deadleader.go).
	DeadLeaderElections int64

	// Peers is the latest configuration (possibly not yet committed).
	// hashicorp/raft v1.7 exposes no per-peer replication progress except
	// through its metrics, so there is no lag figure here.
	Peers []PeerStatus
}

// PeerStatus is one server in the configuration.
type PeerStatus struct {
	ID, Addr string
	Suffrage string // SuffrageVoter, SuffrageNonvoter, SuffrageStaging
	Leader   bool   // the leader as this node knows it
	Self     bool
}

// Status reads this node's Raft state. It does not block on raft's main
// loop and is safe to call at any time, also after Close.
func (c *Cluster) Status() Status {
	leaderAddr, leaderID := c.raft.LeaderWithID()
	st := Status{
		ID:           c.cfg.ID,
		Addr:         c.localAddr,
		Role:         c.role(),
		Term:         c.raft.CurrentTerm(),
		LeaderID:     string(leaderID),
		LeaderAddr:   string(leaderAddr),
		LastIndex:    c.raft.LastIndex(),
		CommitIndex:  c.raft.CommitIndex(),
		AppliedIndex: c.raft.AppliedIndex(),

		DeadLeaderElections: c.deadStands.Load(),
	}
	// Stats is the only place raft exposes the snapshot index.
	st.LastSnapshotIndex, _ = strconv.ParseUint(c.raft.Stats()["last_snapshot_index"], 10, 64)
	if st.Role != RoleLeader {
		st.LastContact = c.raft.LastContact()
	}
	if f := c.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			st.Peers = append(st.Peers, PeerStatus{
				ID:       string(s.ID),
				Addr:     string(s.Address),
				Suffrage: suffrageOf(s.Suffrage),
				Leader:   s.ID == leaderID,
				Self:     string(s.ID) == c.cfg.ID,
			})
		}
	}
	return st
}

// role is raft's state, except after a log store failure: raft may set
// itself back to follower as it handles the failed write after stopRaft
// shut it down (a race inside raft), yet it is stopped.
func (c *Cluster) role() string {
	select {
	case <-c.failed:
		return RoleShutdown
	default:
		return roleOf(c.raft.State())
	}
}

func roleOf(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return RoleLeader
	case raft.Candidate:
		return RoleCandidate
	case raft.Follower:
		return RoleFollower
	default:
		return RoleShutdown
	}
}

func suffrageOf(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return SuffrageVoter
	case raft.Nonvoter:
		return SuffrageNonvoter
	default:
		return SuffrageStaging
	}
}
