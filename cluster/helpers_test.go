package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/cluster"
)

// entry is one applied command as the test state machine records it.
type entry struct {
	Index uint64
	Cmd   string
}

// memSM is an in-memory state machine that behaves like the durable store
// towards the cluster: it records the applied index (also for entries
// without a command), skips indexes it has applied, and reports
// AppliedIndex. Reusing one memSM across a node's restart models a durable
// state machine; a fresh one models a lost or new one.
type memSM struct {
	mu       sync.Mutex
	applied  uint64
	entries  []entry
	restores int
}

type smState struct {
	Applied uint64
	Entries []entry
}

// ApplyBatch returns each command's index as its result, so callers can
// check which entry their command became.
func (m *memSM) ApplyBatch(indexes []uint64, cmds [][]byte) []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := make([]any, len(indexes))
	for i, idx := range indexes {
		if idx <= m.applied {
			continue
		}
		m.applied = idx
		if cmds[i] != nil {
			m.entries = append(m.entries, entry{Index: idx, Cmd: string(cmds[i])})
			res[i] = idx
		}
	}
	return res
}

func (m *memSM) AppliedIndex() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied
}

func (m *memSM) Snapshot() (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := json.Marshal(smState{Applied: m.applied, Entries: m.entries})
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st smState
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied, m.entries = st.Applied, st.Entries
	m.restores++
	return nil
}

func (m *memSM) Entries() []entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]entry(nil), m.entries...)
}

func (m *memSM) Restores() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.restores
}

// volatileSM hides AppliedIndex: the cluster must treat it as a state
// machine that loses its state on restart.
type volatileSM struct{ m *memSM }

func (v volatileSM) ApplyBatch(i []uint64, c [][]byte) []any { return v.m.ApplyBatch(i, c) }
func (v volatileSM) Snapshot() (io.ReadCloser, error)        { return v.m.Snapshot() }
func (v volatileSM) Restore(rc io.ReadCloser) error          { return v.m.Restore(rc) }

// testNode is one member: its config and state machine survive restarts.
type testNode struct {
	cfg cluster.Config
	sm  *memSM
	c   *cluster.Cluster // nil while stopped
}

type testCluster struct {
	t     testing.TB
	nodes []*testNode
}

// newTestCluster starts n bootstrapped voters on 127.0.0.1 in t.TempDir().
func newTestCluster(t testing.TB, n int, tune func(*cluster.Config)) *testCluster {
	t.Helper()
	dir := t.TempDir()
	addrs := freeAddrs(t, n)
	var peers []cluster.Peer
	for i := range n {
		peers = append(peers, cluster.Peer{ID: nodeID(i), Addr: addrs[i]})
	}
	tc := &testCluster{t: t}
	for i := range n {
		cfg := nodeConfig(dir, nodeID(i), addrs[i], tune)
		cfg.Peers, cfg.Bootstrap = peers, true
		tc.nodes = append(tc.nodes, &testNode{cfg: cfg, sm: &memSM{}})
	}
	t.Cleanup(tc.closeAll)
	for i := range n {
		tc.start(i)
	}
	return tc
}

func nodeID(i int) string { return fmt.Sprintf("n%d", i+1) }

func nodeConfig(dir, id, addr string, tune func(*cluster.Config)) cluster.Config {
	cfg := cluster.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.BindAddr = id, filepath.Join(dir, id), addr
	cfg.Logger = testLogger(id)
	if tune != nil {
		tune(&cfg)
	}
	return cfg
}

// testLogger discards unless TILLGATE_TEST_LOG is set (then debug to stderr).
func testLogger(id string) *slog.Logger {
	if os.Getenv("TILLGATE_TEST_LOG") == "" {
		return nil
	}
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h).With("node", id)
}

// freeAddrs asks the OS for n free loopback ports (all held open at once
// so they differ), then releases them for the nodes to bind.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

func (tc *testCluster) start(i int) {
	tc.t.Helper()
	tc.startWith(i, tc.nodes[i].sm)
}

func (tc *testCluster) startWith(i int, sm cluster.StateMachine) {
	tc.t.Helper()
	n := tc.nodes[i]
	c, err := cluster.Open(n.cfg, sm)
	if err != nil {
		tc.t.Fatalf("open %s: %v", n.cfg.ID, err)
	}
	n.c = c
}

func (tc *testCluster) stop(i int) {
	tc.t.Helper()
	n := tc.nodes[i]
	if err := n.c.Close(); err != nil {
		tc.t.Errorf("close %s: %v", n.cfg.ID, err)
	}
	n.c = nil
}

func (tc *testCluster) closeAll() {
	for i, n := range tc.nodes {
		if n.c != nil {
			tc.stop(i)
		}
	}
}

func (tc *testCluster) running() []*testNode {
	var out []*testNode
	for _, n := range tc.nodes {
		if n.c != nil {
			out = append(out, n)
		}
	}
	return out
}

// waitLeader waits until one running node leads and every running node
// names it at the same term.
func (tc *testCluster) waitLeader() *testNode {
	tc.t.Helper()
	var leader *testNode
	waitFor(tc.t, 20*time.Second, "a leader all running nodes agree on", func() bool {
		leader = nil
		var st cluster.Status
		for _, n := range tc.running() {
			if n.c.IsLeader() {
				leader, st = n, n.c.Status()
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range tc.running() {
			s := n.c.Status()
			if s.LeaderID != leader.cfg.ID || s.Term != st.Term {
				return false
			}
		}
		return true
	})
	return leader
}

func (tc *testCluster) follower(leader *testNode) *testNode {
	for _, n := range tc.running() {
		if n != leader {
			return n
		}
	}
	tc.t.Fatal("no follower running")
	return nil
}

// waitConverged waits until every running node has applied exactly want.
func (tc *testCluster) waitConverged(want []entry) {
	tc.t.Helper()
	for _, n := range tc.running() {
		waitFor(tc.t, 20*time.Second, n.cfg.ID+" to hold the leader's entries", func() bool {
			return reflect.DeepEqual(n.sm.Entries(), want)
		})
	}
}

// applyN applies cmds prefix-0..prefix-(n-1) one after the other.
func applyN(t testing.TB, c *cluster.Cluster, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := c.Apply(context.Background(), fmt.Appendf(nil, "%s-%d", prefix, i)); err != nil {
			t.Fatalf("apply %s-%d: %v", prefix, i, err)
		}
	}
}

// waitFor polls cond until it holds or the timeout passes. Timeouts are
// generous: CI shares two cores; nothing here measures speed.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nextLeadership waits for the next value on ch that satisfies ok.
func nextLeadership(t testing.TB, ch <-chan cluster.Leadership, what string, ok func(cluster.Leadership) bool) cluster.Leadership {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-ch:
			if ok(l) {
				return l
			}
		case <-timeout:
			t.Fatalf("timed out waiting for leadership: %s", what)
		}
	}
}
