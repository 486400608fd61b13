package node

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tillgate/tillgate/cluster"
)

// The node's parts register their series in their own metrics.go, on the
// node's registerer; what is left here is the node itself: its identity,
// Raft's state and the state machine's applied index, and the Go runtime.
// Labels never carry a PAN, STAN or terminal id: those are unbounded and
// sensitive.

// registerer registers on a node's registry and remembers what, so that
// Close can take it all back: a node restarted in the same process (tests,
// the demo) registers its collectors again on the same registry.
type registerer struct {
	reg  *prometheus.Registry
	mu   sync.Mutex
	mine []prometheus.Collector
}

// MustRegister registers cs; a collector registered twice is a bug: panic.
func (r *registerer) MustRegister(cs ...prometheus.Collector) {
	r.reg.MustRegister(cs...)
	r.mu.Lock()
	r.mine = append(r.mine, cs...)
	r.mu.Unlock()
}

// Register registers c, reporting a collector that is already there.
func (r *registerer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.mine = append(r.mine, c)
	r.mu.Unlock()
	return nil
}

// Unregister takes back c.
func (r *registerer) Unregister(c prometheus.Collector) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range r.mine {
		if m == c {
			r.mine = append(r.mine[:i], r.mine[i+1:]...)
			break
		}
	}
	return r.reg.Unregister(c)
}

// unregisterAll takes back every collector registered through r.
func (r *registerer) unregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.mine {
		r.reg.Unregister(c)
	}
	r.mine = nil
}

// registerMetrics registers the node's own series.
func (n *Node) registerMetrics() {
	n.reg.MustRegister(newStateCollector(n))
	// A registry per node: three nodes in one test process must not collide.
	_ = n.reg.Register(collectors.NewGoCollector())
	_ = n.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// stateCollector exposes what Raft and the state machine already keep, at
// scrape time: each Collect reads cluster.Status once, and the request path
// pays nothing for it.
type stateCollector struct {
	n       *Node
	started time.Time

	info, role, hasLeader, term, lastIndex, commitIndex, appliedIndex *prometheus.Desc
	snapshotIndex, stateApplied, lastContact, peer, peerLeader        *prometheus.Desc
	deadLeaderElections                                               *prometheus.Desc
}

var raftRoles = []string{cluster.RoleLeader, cluster.RoleFollower, cluster.RoleCandidate, cluster.RoleShutdown}

func newStateCollector(n *Node) *stateCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{
		n:       n,
		started: time.Now(),

		info: desc("tillgate_node_info", "Always 1; labels name this node (id) and its register address, to map a scrape target to a node.", "id", "register_addr"),
		role: desc("tillgate_raft_role", "1 for the Raft role this node is in now, 0 for the others.", "role"),
		hasLeader: desc("tillgate_raft_leader_known",
			"1 while this node knows a Raft leader (itself included)."),
		term:         desc("tillgate_raft_term", "Current Raft term."),
		lastIndex:    desc("tillgate_raft_last_index", "Index of the last entry in the local Raft log (or snapshot)."),
		commitIndex:  desc("tillgate_raft_commit_index", "Highest Raft index this node knows to be committed."),
		appliedIndex: desc("tillgate_raft_applied_index", "Highest Raft index handed to the state machine (raft's view)."),
		snapshotIndex: desc("tillgate_raft_last_snapshot_index",
			"Raft index of the latest local snapshot; 0 before the first."),
		stateApplied: desc("tillgate_state_applied_index",
			"Raft index the state machine (bbolt) has durably applied, recorded in the same transaction as the data."),
		lastContact: desc("tillgate_raft_last_contact_seconds",
			"Seconds since this follower last heard from a leader (since node start if never); 0 on the leader."),
		peer: desc("tillgate_raft_peer_info",
			"Always 1 for each server in the latest Raft configuration. hashicorp/raft v1.7 exposes no per-peer replication progress, so there is no per-peer lag series: compare tillgate_raft_applied_index across nodes instead.",
			"peer", "address", "suffrage", "self"),
		peerLeader: desc("tillgate_raft_peer_leader", "1 for the peer this node believes is the leader, 0 for the others.", "peer"),
		deadLeaderElections: desc("tillgate_raft_dead_leader_elections_total",
			"Elections this node started at once because its leader's Raft port refused connections (the leader's process was gone), since the node started."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.role, c.hasLeader, c.term, c.lastIndex, c.commitIndex,
		c.appliedIndex, c.snapshotIndex, c.stateApplied, c.lastContact, c.peer, c.peerLeader, c.deadLeaderElections} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	gauge(c.info, 1, n.cfg.ID, n.cfg.RegisterAddr)

	if n.raft != nil {
		st := n.raft.Status()
		for _, r := range raftRoles {
			gauge(c.role, gaugeBool(st.Role == r), r)
		}
		gauge(c.hasLeader, gaugeBool(st.LeaderID != ""))
		gauge(c.term, float64(st.Term))
		gauge(c.lastIndex, float64(st.LastIndex))
		gauge(c.commitIndex, float64(st.CommitIndex))
		gauge(c.appliedIndex, float64(st.AppliedIndex))
		gauge(c.snapshotIndex, float64(st.LastSnapshotIndex))
		var since float64
		switch {
		case st.Role == cluster.RoleLeader:
		case st.LastContact.IsZero():
			since = time.Since(c.started).Seconds()
		default:
			since = time.Since(st.LastContact).Seconds()
		}
		gauge(c.lastContact, since)
		ch <- prometheus.MustNewConstMetric(c.deadLeaderElections, prometheus.CounterValue, float64(st.DeadLeaderElections))
		for _, p := range st.Peers {
			gauge(c.peer, 1, p.ID, p.Addr, p.Suffrage, boolLabel(p.Self))
			gauge(c.peerLeader, gaugeBool(p.Leader), p.ID)
		}
	}
	if n.store != nil {
		gauge(c.stateApplied, float64(n.store.AppliedIndex()))
	}
}

func gaugeBool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
