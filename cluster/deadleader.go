package cluster

import (
	"errors"
	"net"
	"slices"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// A leader whose process is gone (killed, crashed, stopped) leaves nothing
// listening on its Raft port: a dial to it is refused at once. Raft alone
// cannot tell that from a leader that is only slow, so a follower waits out
// its heartbeat timeout (randomised up to twice that) and then a pre-vote
// that the other follower refuses while it still believes in the dead
// leader: more than a second at the default timings, all of it with the
// registers waiting. A refused connection is proof, not a guess, so a
// follower that has not heard from its leader for a few heartbeats asks the
// port, and on a refusal starts an election at once, as a leadership
// transfer does (raft's TimeoutNow): the other follower votes for it even
// though it has not yet given up on the dead leader itself.
//
// Nothing else takes this path: a leader that is starved, paused or cut off
// by the network still has a listening socket (the kernel completes the
// handshake for it) or drops the dial, which times out; those wait for the
// heartbeat timeout as before. Safety does not depend on the probe: Raft
// grants one vote per term and elects only a node with every committed
// entry; a wrong refusal (a leader that has just closed its port on its way
// down) costs an election, nothing more.
//
// Both followers see the refusal together; if both stood at once each would
// vote for itself and the split vote would cost an election timeout. So
// they stand in the order of their server IDs, a stagger apart, and a
// later one stands only if no leader has been elected meanwhile; it stands
// at once when it refuses the first candidate's vote (that candidate's log
// is shorter: it cannot win).

const (
	deadProbeEvery   = 20 * time.Millisecond
	deadProbeTimeout = 100 * time.Millisecond
)

// deadLeaderTimings derives the watcher's timings from the heartbeat
// timeout: the leader heartbeats every tenth of it, so a follower that has
// heard nothing for a fifth has missed two heartbeats; the stagger leaves
// the first candidate a few round trips to win before the next stands.
func (c Config) deadLeaderTimings() (suspect, stagger time.Duration) {
	return c.HeartbeatTimeout / 5, c.HeartbeatTimeout / 2
}

// watchDeadLeader runs until Close.
func (c *Cluster) watchDeadLeader() {
	defer close(c.deadDone)
	suspect, stagger := c.cfg.deadLeaderTimings()
	tick := time.NewTicker(deadProbeEvery)
	defer tick.Stop()
	var (
		probed time.Time          // the last probe of a leader that answered
		last   raft.ServerAddress // the leader this follower last named
		lastID raft.ServerID
	)
	for {
		select {
		case <-c.closed:
			return
		case <-c.failed:
			return
		case <-tick.C:
		}
		addr, id := c.raft.LeaderWithID()
		if addr != "" {
			last, lastID = addr, id
		}
		if last == "" || c.raft.State() != raft.Follower ||
			time.Since(c.raft.LastContact()) < suspect || time.Since(probed) < suspect {
			continue
		}
		if !c.refuses(last) {
			probed = time.Now()
			continue
		}
		if c.votedForAnother(last) {
			continue
		}
		// A follower forgets its leader without contact only when it
		// refuses its vote to a candidate of a newer term (raft's
		// setState): a first stander whose log is shorter. Then it must
		// not wait for that one to win.
		if rank := c.standRank(lastID); rank > 0 && addr != "" {
			stand, closed := c.awaitFirstStander(last, time.Duration(rank)*stagger)
			if closed {
				return
			}
			if !stand {
				continue
			}
		}
		c.standNow(last, lastID)
	}
}

// awaitFirstStander gives a follower that stands later (by its rank) time
// for the first to win: it reports whether this one must stand now. It
// stops waiting early when this follower refuses a candidate (its term
// moved on without contact: the candidate's log was shorter, so it cannot
// win and nobody else will stand before a timeout), and gives up when it
// has contact again (a leader, or a vote it granted).
func (c *Cluster) awaitFirstStander(dead raft.ServerAddress, wait time.Duration) (stand, closed bool) {
	found, term := time.Now(), c.raft.CurrentTerm()
	for time.Since(found) < wait {
		if !c.sleep(deadProbeEvery) {
			return false, true
		}
		if !c.stillLeaderless(found, dead) {
			return false, false
		}
		if c.raft.CurrentTerm() > term {
			break
		}
	}
	return c.stillLeaderless(found, dead) && c.refuses(dead), false
}

// stillLeaderless reports a follower that, since it found its leader's
// port dead (at found), has had no contact (neither a leader's RPC nor a
// vote it granted: raft counts both) and learnt of no other leader. A
// follower asked for its vote by a candidate of a higher term forgets its
// leader (raft's setState) even when it refuses the vote (the first
// candidate's log was shorter): that follower must stand now, or it waits
// out its heartbeat timeout while the first candidate waits out its
// election timeout. One that granted its vote must not: the candidate has
// won or is winning, and standing would depose it before its first
// heartbeat arrives (seen at load 16: three elections, 12 s).
func (c *Cluster) stillLeaderless(found time.Time, dead raft.ServerAddress) bool {
	if c.raft.State() != raft.Follower || !c.raft.LastContact().Before(found) || c.votedForAnother(dead) {
		return false
	}
	addr, _ := c.raft.LeaderWithID()
	return addr == "" || addr == dead
}

// votedForAnother reports a follower that granted its vote in the current
// term to a candidate other than itself and the dead leader (whom it may
// have elected in this very term): that one is winning, and standing would depose
// it. Raft counts the grant as contact, but a grant made before this
// follower found the port dead does not show as contact since (seen in CI:
// the second follower stood after voting for the first, terms 2 -> 5). If
// that candidate dies too, the heartbeat timeout covers it. The vote is
// read where raft keeps it (its stable store's LastVoteTerm and
// LastVoteCand, the candidate's address).
func (c *Cluster) votedForAnother(dead raft.ServerAddress) bool {
	term, err := c.bolt.GetUint64([]byte("LastVoteTerm"))
	if err != nil || term != c.raft.CurrentTerm() {
		return false
	}
	cand, err := c.bolt.Get([]byte("LastVoteCand"))
	return err == nil && len(cand) > 0 && string(cand) != c.localAddr && string(cand) != string(dead)
}

// refuses reports whether a dial to addr is refused: nothing listens
// there. A timeout or a connection proves nothing of the kind.
func (c *Cluster) refuses(addr raft.ServerAddress) bool {
	conn, err := net.DialTimeout("tcp", string(addr), deadProbeTimeout)
	if err == nil {
		conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// standRank is this node's place among the voters other than the dead
// leader, by server ID: 0 stands first.
func (c *Cluster) standRank(dead raft.ServerID) int {
	f := c.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && s.ID != dead {
			ids = append(ids, string(s.ID))
		}
	}
	slices.Sort(ids)
	if i := slices.Index(ids, c.cfg.ID); i > 0 {
		return i
	}
	return 0
}

// standNow makes this node a candidate through its own transport, as the
// leader's TimeoutNow does in a leadership transfer.
func (c *Cluster) standNow(dead raft.ServerAddress, deadID raft.ServerID) {
	c.log.Warn("the leader's Raft port refuses connections: its process is gone; standing for election now",
		"leader_id", string(deadID), "leader_addr", string(dead), "last_contact", c.raft.LastContact())
	req := &raft.TimeoutNowRequest{RPCHeader: raft.RPCHeader{
		ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(c.cfg.ID), Addr: []byte(c.localAddr),
	}}
	var resp raft.TimeoutNowResponse
	if err := c.trans.TimeoutNow(raft.ServerID(c.cfg.ID), raft.ServerAddress(c.localAddr), req, &resp); err != nil {
		c.log.Warn("could not stand for election; the heartbeat timeout will", "error", err)
		return
	}
	c.deadStands.Add(1)
}

// sleep waits d unless the cluster closes first.
func (c *Cluster) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closed:
		return false
	}
}
