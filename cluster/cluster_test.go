package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/cluster"
)

func TestConcurrentAppliesReplicateInOrder(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	leader := tc.waitLeader()

	const n = 500
	results := make([]any, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = leader.c.Apply(context.Background(), fmt.Appendf(nil, "cmd-%03d", i))
		})
	}
	wg.Wait()

	want := leader.sm.Entries()
	byIndex := map[uint64]string{}
	for _, e := range want {
		byIndex[e.Index] = e.Cmd
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("apply %d: %v", i, errs[i])
		}
		idx, ok := results[i].(uint64)
		if !ok || byIndex[idx] != fmt.Sprintf("cmd-%03d", i) {
			t.Fatalf("apply %d: result %v names entry %q, want cmd-%03d", i, results[i], byIndex[idx], i)
		}
	}
	var cmds []string
	for _, e := range want {
		cmds = append(cmds, e.Cmd)
	}
	sort.Strings(cmds)
	for i, c := range cmds {
		if c != fmt.Sprintf("cmd-%03d", i) || len(cmds) != n {
			t.Fatalf("leader holds %d commands, #%d is %q; want cmd-000..cmd-%03d once each", len(cmds), i, c, n-1)
		}
	}
	tc.waitConverged(want)
}

func TestApplyOnFollowerIsNotLeader(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	leader := tc.waitLeader()
	f := tc.follower(leader)

	_, err := f.c.Apply(context.Background(), []byte("x"))
	if !errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrOutcomeUnknown) {
		t.Fatalf("apply on follower: %v, want ErrNotLeader only", err)
	}
	if err := f.c.Barrier(context.Background()); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("barrier on follower: %v, want ErrNotLeader", err)
	}
	if err := f.c.AddVoter(context.Background(), "n9", "127.0.0.1:1"); !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("add voter on follower: %v, want ErrNotLeader", err)
	}
	if got := f.sm.Entries(); len(got) != 0 {
		t.Fatalf("follower applied %v after a refused apply", got)
	}
}

func TestFailoverAndRestartCatchUp(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	old := tc.waitLeader()
	applyN(t, old.c, "before", 10)
	oldTerm := old.c.Status().Term

	var others []*testNode
	for _, n := range tc.nodes {
		if n != old {
			others = append(others, n)
		}
	}
	oldIdx := slices.Index(tc.nodes, old)
	tc.stop(oldIdx)

	// Both survivors learn the new leader through Leadership().
	elected := func(l cluster.Leadership) bool { return l.LeaderID != "" && l.LeaderID != old.cfg.ID }
	seen := map[string]cluster.Leadership{}
	for _, n := range others {
		seen[n.cfg.ID] = nextLeadership(t, n.c.Leadership(), n.cfg.ID+" sees a new leader", elected)
	}
	a, b := seen[others[0].cfg.ID], seen[others[1].cfg.ID]
	if a.LeaderID != b.LeaderID || a.Term != b.Term || a.Term <= oldTerm || a.IsLeader == b.IsLeader {
		t.Fatalf("survivors disagree: %s sees %+v, %s sees %+v (old term %d)", others[0].cfg.ID, a, others[1].cfg.ID, b, oldTerm)
	}
	newLeader := others[0]
	if b.IsLeader {
		newLeader = others[1]
	}
	if a.LeaderID != newLeader.cfg.ID || a.LeaderAddr != newLeader.cfg.BindAddr {
		t.Fatalf("leadership names %s at %s, want %s at %s", a.LeaderID, a.LeaderAddr, newLeader.cfg.ID, newLeader.cfg.BindAddr)
	}

	applyN(t, newLeader.c, "after", 10)
	tc.start(oldIdx)
	tc.waitConverged(newLeader.sm.Entries())
	if got := len(old.sm.Entries()); got != 20 {
		t.Fatalf("restarted node holds %d entries, want 20", got)
	}
	if r := old.sm.Restores(); r != 0 {
		t.Fatalf("restarted node restored %d snapshots, want 0 (its state machine is durable)", r)
	}
	nextLeadership(t, old.c.Leadership(), "restarted node names the new leader", func(l cluster.Leadership) bool {
		return !l.IsLeader && l.LeaderID == newLeader.cfg.ID
	})
}

func TestLeadershipChannelHoldsLatestState(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	firstTerm := tc.waitLeader().c.Status().Term
	// Nobody reads the channels from here on while leadership moves twice.
	for range 2 {
		before := tc.waitLeader()
		if err := before.c.TransferLeadership(context.Background()); err != nil {
			t.Fatalf("transfer leadership: %v", err)
		}
		if after := tc.waitLeader(); after == before {
			t.Fatalf("leadership stayed on %s after a transfer", before.cfg.ID)
		}
	}
	leader := tc.waitLeader()
	applyN(t, leader.c, "cmd", 5) // raft kept working with nobody reading
	if term := leader.c.Status().Term; term < firstTerm+2 {
		t.Fatalf("two transfers moved the term from %d to %d only", firstTerm, term)
	}
	time.Sleep(1500 * time.Millisecond) // > the watcher's reconcile period

	want := func(n *testNode) cluster.Leadership {
		return cluster.Leadership{IsLeader: n == leader, Term: leader.c.Status().Term, LeaderID: leader.cfg.ID, LeaderAddr: leader.cfg.BindAddr}
	}
	for _, n := range tc.nodes {
		select {
		case got := <-n.c.Leadership():
			if got != want(n) {
				t.Errorf("%s: Leadership() holds %+v, want the latest %+v", n.cfg.ID, got, want(n))
			}
		default:
			t.Fatalf("%s: Leadership() is empty", n.cfg.ID)
		}
		select {
		case extra := <-n.c.Leadership():
			t.Errorf("%s: a second value %+v after the latest", n.cfg.ID, extra)
		default:
		}
	}
}

func TestSnapshots(t *testing.T) {
	const trailing = 5
	tc := newTestCluster(t, 3, func(c *cluster.Config) {
		c.SnapshotThreshold = 20
		c.TrailingLogs = trailing
		c.SnapshotInterval = 50 * time.Millisecond
	})
	leader := tc.waitLeader()
	applyN(t, leader.c, "a", 10)
	tc.waitConverged(leader.sm.Entries())

	// A follower down while the log moves far past it and is compacted
	// comes back through an installed snapshot.
	behind := tc.follower(leader)
	bi := slices.Index(tc.nodes, behind)
	behindLast := behind.c.Status().LastIndex
	tc.stop(bi)
	applyN(t, leader.c, "b", 200)
	waitFor(t, 20*time.Second, "the leader to compact its log past the stopped follower", func() bool {
		return leader.c.Status().LastSnapshotIndex > behindLast+trailing+1
	})
	tc.start(bi)
	tc.waitConverged(leader.sm.Entries())
	if r := behind.sm.Restores(); r < 1 {
		t.Fatalf("follower caught up without installing a snapshot (restores %d)", r)
	}

	// A node whose durable state machine is lost (fresh, applied index 0)
	// gets its local snapshot restored by Open, then the log after it.
	oi := slices.IndexFunc(tc.nodes, func(n *testNode) bool { return n != leader && n != behind })
	other := tc.nodes[oi]
	waitFor(t, 20*time.Second, other.cfg.ID+" to take a local snapshot", func() bool {
		return other.c.Status().LastSnapshotIndex > 0
	})
	tc.stop(oi)
	other.sm = &memSM{}
	tc.start(oi)
	if r := other.sm.Restores(); r != 1 {
		t.Fatalf("Open restored %d snapshots into an empty durable state machine, want 1", r)
	}
	applyN(t, leader.c, "c", 5)
	tc.waitConverged(leader.sm.Entries())

	// A state machine without AppliedIndex is volatile: raft restores the
	// latest snapshot on start and replays the rest.
	tc.stop(oi)
	other.sm = &memSM{}
	tc.startWith(oi, volatileSM{other.sm})
	applyN(t, leader.c, "d", 5)
	tc.waitConverged(leader.sm.Entries())
	if r := other.sm.Restores(); r != 1 {
		t.Fatalf("volatile state machine restored %d snapshots on start, want 1", r)
	}
}

func TestAddAndRemoveVoter(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	leader := tc.waitLeader()
	applyN(t, leader.c, "a", 5)

	addr := freeAddrs(t, 1)[0]
	n4 := &testNode{cfg: nodeConfig(t.TempDir(), "n4", addr, nil), sm: &memSM{}}
	tc.nodes = append(tc.nodes, n4)
	tc.start(3)
	if err := leader.c.AddVoter(context.Background(), "n4", addr); err != nil {
		t.Fatalf("add voter: %v", err)
	}
	waitFor(t, 20*time.Second, "n4 to become a voter", func() bool {
		return slices.Equal(voters(leader.c.Status()), []string{"n1", "n2", "n3", "n4"})
	})
	applyN(t, leader.c, "b", 5)
	tc.waitConverged(leader.sm.Entries())
	if got := len(n4.sm.Entries()); got != 10 {
		t.Fatalf("n4 holds %d entries, want 10", got)
	}

	if err := leader.c.RemoveServer(context.Background(), "n4"); err != nil {
		t.Fatalf("remove server: %v", err)
	}
	if got := voters(leader.c.Status()); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("voters after remove: %v", got)
	}
	tc.stop(3)
	applyN(t, leader.c, "c", 3) // the three remaining still commit
}

func voters(s cluster.Status) []string {
	var ids []string
	for _, p := range s.Peers {
		if p.Suffrage == cluster.SuffrageVoter {
			ids = append(ids, p.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestSingleNodeLifecycle(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddrs(t, 1)[0]
	cfg := nodeConfig(dir, "solo", addr, nil)
	cfg.Bootstrap = true // no Peers: a cluster of itself
	sm := &memSM{}
	c, err := cluster.Open(cfg, sm)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer c.Close()
	nextLeadership(t, c.Leadership(), "solo leads", func(l cluster.Leadership) bool { return l.IsLeader })
	if err := c.Barrier(context.Background()); err != nil {
		t.Fatalf("barrier: %v", err)
	}
	res, err := c.Apply(context.Background(), []byte{})
	if err != nil {
		t.Fatalf("apply empty command: %v", err)
	}
	st := c.Status()
	if st.Role != cluster.RoleLeader || st.LeaderID != "solo" || st.Addr != addr || len(st.Peers) != 1 ||
		!st.Peers[0].Self || !st.Peers[0].Leader || res != st.LastIndex {
		t.Fatalf("status %+v, apply result %v", st, res)
	}
	if got := sm.Entries(); len(got) != 1 || got[0].Cmd != "" {
		t.Fatalf("entries %+v, want one empty command", got)
	}

	// A second node on the same directory fails instead of hanging.
	cfg2 := cfg
	cfg2.BindAddr = freeAddrs(t, 1)[0]
	if c2, err := cluster.Open(cfg2, &memSM{}); err == nil {
		c2.Close()
		t.Fatal("second Open on the same Dir succeeded")
	}

	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	_, err = c.Apply(context.Background(), []byte("late"))
	if !errors.Is(err, cluster.ErrNotAppended) || !errors.Is(err, cluster.ErrClosed) || errors.Is(err, cluster.ErrOutcomeUnknown) {
		t.Fatalf("apply after close: %v", err)
	}
	select {
	case l := <-c.Leadership():
		if l.IsLeader || l.LeaderID != "" {
			t.Fatalf("last leadership after close: %+v", l)
		}
	default:
		t.Fatal("no leadership state after close")
	}
	if st := c.Status(); st.Role != cluster.RoleShutdown {
		t.Fatalf("role after close: %s", st.Role)
	}
}

func TestApplyContext(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	leader := tc.waitLeader()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := leader.c.Apply(ctx, []byte("x")); !errors.Is(err, cluster.ErrNotAppended) || !errors.Is(err, context.Canceled) {
		t.Fatalf("apply with a cancelled context: %v", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := leader.c.Apply(ctx, []byte("x")); !errors.Is(err, cluster.ErrNotAppended) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("apply past its deadline: %v", err)
	}
	if got := leader.sm.Entries(); len(got) != 0 {
		t.Fatalf("refused applies reached the state machine: %v", got)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]func(*cluster.Config){
		"no ID":               func(c *cluster.Config) { c.ID = "" },
		"no Dir":              func(c *cluster.Config) { c.Dir = "" },
		"no BindAddr":         func(c *cluster.Config) { c.BindAddr = "" },
		"bootstrap sans self": func(c *cluster.Config) { c.Bootstrap, c.Peers = true, []cluster.Peer{{ID: "x", Addr: "127.0.0.1:1"}} },
		"lease > heartbeat":   func(c *cluster.Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := nodeConfig(dir, "n1", "127.0.0.1:0", mutate)
			if c, err := cluster.Open(cfg, &memSM{}); !errors.Is(err, cluster.ErrInvalidConfig) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("open: %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := cluster.Open(nodeConfig(dir, "n1", "127.0.0.1:0", nil), nil); !errors.Is(err, cluster.ErrInvalidConfig) {
		t.Fatalf("open with nil state machine: %v", err)
	}
}
