package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Leadership is one node's view of who leads. LeaderID/LeaderAddr are empty
// while no leader is known (an election is running, or this node is cut
// off). Term is this node's current Raft term.
type Leadership struct {
	IsLeader   bool
	Term       uint64
	LeaderID   string
	LeaderAddr string
}

// leadershipFeed is a size-1 channel that always holds the latest state.
// The only sender empties it before sending, under a mutex, so a send never
// blocks; a reader that falls behind skips states, never the latest one.
type leadershipFeed struct {
	mu   sync.Mutex
	ch   chan Leadership
	last Leadership
	sent bool
}

func newLeadershipFeed() *leadershipFeed {
	return &leadershipFeed{ch: make(chan Leadership, 1)}
}

// publish offers l unless it equals the last state published.
func (f *leadershipFeed) publish(l Leadership) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent && f.last == l {
		return
	}
	f.last, f.sent = l, true
	select {
	case <-f.ch: // drop the stale state nobody read
	default:
	}
	f.ch <- l // cannot block: empty, and we are the only sender
}

// reconcileEvery bounds how stale the published state can be when a change
// comes without an event (a candidate's term increments without one).
const reconcileEvery = time.Second

// leadershipObservations filters raft's observations down to the ones that
// can change a Leadership.
func leadershipObservations(o *raft.Observation) bool {
	switch o.Data.(type) {
	case raft.LeaderObservation, raft.RaftState:
		return true
	}
	return false
}

// watchLeadership republishes the leadership state on every hint that it
// changed: raft's LeaderCh (this node won or lost), a LeaderObservation
// (any node learns a new leader, or that there is none), a RaftState
// observation, and a slow ticker. It reads the state from raft each time
// rather than trusting the event, so a dropped observation (raft never
// blocks on our observer channel) costs nothing: a drop means the channel
// is full, so a later event still triggers a fresh read.
func (c *Cluster) watchLeadership(obs <-chan raft.Observation) {
	defer close(c.watchDone)
	tick := time.NewTicker(reconcileEvery)
	defer tick.Stop()
	leaderCh := c.raft.LeaderCh()
	failed := c.failed
	for {
		select {
		case <-leaderCh:
		case <-obs:
		case <-tick.C:
		case <-failed:
			failed = nil
			c.stopRaft()
		case <-c.closed:
			return
		}
		c.feed.publish(c.leadership())
	}
}

// leadership reads the current state from raft. While this node is the
// leader it names itself, so IsLeader and LeaderID never disagree.
//
// Raft offers no atomic read of term and leader, so the term is read before
// and after: a pair read across an election would name the leader of one
// term with the number of another, and two nodes' views would then seem to
// disagree about who led that term.
func (c *Cluster) leadership() Leadership {
	for {
		term := c.raft.CurrentTerm()
		l := Leadership{Term: term}
		if c.raft.State() == raft.Leader {
			l.IsLeader = true
			l.LeaderID, l.LeaderAddr = c.cfg.ID, c.localAddr
		} else {
			addr, id := c.raft.LeaderWithID()
			l.LeaderID, l.LeaderAddr = string(id), string(addr)
		}
		if c.raft.CurrentTerm() == term {
			return l
		}
	}
}

// Leadership returns a channel of capacity 1 that always holds the latest
// leadership state not yet received: read it whenever it is ready, take
// the value as the current state. Raft never waits on it. It is meant for
// one reader; the same channel is returned each time.
func (c *Cluster) Leadership() <-chan Leadership {
	return c.feed.ch
}

// IsLeader reports whether this node is the leader now.
func (c *Cluster) IsLeader() bool {
	return c.raft.State() == raft.Leader
}

// stopRaft shuts raft down after a log store failure (fail-stop): the files'
// state is unknown, so the node must not go on voting or leading. Close
// still runs as usual afterwards.
func (c *Cluster) stopRaft() {
	c.log.Error("Raft log store failed: shutting Raft down; restart the node (it checks its log on start)", "error", c.failErr)
	if err := c.raft.Shutdown().Error(); err != nil {
		c.log.Error("raft shutdown after a log store failure", "error", err)
	}
}
