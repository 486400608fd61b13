package cluster_test

import (
	"testing"
	"time"

	"github.com/tillgate/tillgate/cluster"
)

// A leader whose process is gone refuses connections on its Raft port; a
// follower that notices stands for election at once, and the other votes
// for it although it still names the dead leader. The heartbeat timeout
// is long enough here (2-4 s before a follower stands on its own) that the
// new leader having stood through the probe is the proof.
func TestDeadLeaderPortStartsElection(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *cluster.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout = 2*time.Second, 2*time.Second
	})
	old := tc.waitLeader()
	applyN(t, old.c, "before", 10)
	// Both followers hold every entry: neither refuses the other's vote for
	// a shorter log (that case takes a second stand, a term more).
	last := old.c.Status().LastIndex
	waitFor(t, 20*time.Second, "both followers to hold the leader's log", func() bool {
		for _, n := range tc.running() {
			if n.c.Status().LastIndex != last {
				return false
			}
		}
		return true
	})
	term := old.c.Status().Term
	for i, n := range tc.nodes {
		if n == old {
			tc.stop(i) // Close shuts the transport: the port refuses
		}
	}
	leader := tc.waitLeader()
	st := leader.c.Status()
	if st.DeadLeaderElections < 1 {
		t.Errorf("%s leads term %d but never stood on a refused port (it won by the heartbeat timeout instead)", leader.cfg.ID, st.Term)
	}
	// One term more is the usual case. On a starved machine a candidate
	// can time out before its votes arrive and stand again: a round of
	// milliseconds, no money, and a matter of scheduling: logged, not
	// asserted. (A follower that voted for the first stander no longer
	// stands itself: votedForAnother.)
	t.Logf("new term %d after term %d; %s stood %d times", st.Term, term, leader.cfg.ID, st.DeadLeaderElections)
	applyN(t, leader.c, "after", 10)
}
