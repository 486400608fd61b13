package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/internal/regsim"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// env is one cluster with its acquirer simulator.
type env struct {
	t   testing.TB
	dir string
	sim *sim.Sim
	cl  *localcluster.Cluster
}

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TILLGATE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func mustStart(t testing.TB) *env {
	t.Helper()
	return mustStartTuned(t, nil)
}

// mustStartTuned is mustStart with tune applied to each node's config
// after the test timings.
func mustStartTuned(t testing.TB, tune func(*node.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{
		Addr:    "127.0.0.1:0",
		DataDir: filepath.Join(dir, "acqsim"),
		Latency: sim.Latency{Min: 0, Max: 2 * time.Millisecond},
		Dialect: wire.DefaultDialect(),
		Logger:  testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{
		Dir:          dir,
		AcquirerAddr: s.Addr(),
		Logger:       testLogger(t),
		Tune: func(c *node.Config) {
			// A loaded 2-core CI box looks like a paused leader at LAN
			// timings; keep Raft's own defaults here.
			c.Raft.HeartbeatTimeout = time.Second
			c.Raft.ElectionTimeout = time.Second
			c.Raft.LeaderLeaseTimeout = 500 * time.Millisecond
			if tune != nil {
				tune(c)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, sim: s, cl: cl}
}

// fleetConfig is a register fleet against e's nodes, 10% of transactions
// repeated.
func (e *env) fleetConfig(registers, per int) regsim.Config {
	cfg := regsim.DefaultConfig()
	cfg.Addrs = e.cl.RegisterAddrs()
	cfg.Registers, cfg.PerRegister = registers, per
	cfg.ThinkTime = 5 * time.Millisecond
	cfg.RepeatRatio = 0.1
	return cfg
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

// running returns the nodes that are up.
func (e *env) running() []*node.Node {
	var out []*node.Node
	for _, n := range e.cl.Nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// waitQuiet waits until the running nodes have applied the same index, hold
// no open INTENT, and their states hash the same (I5).
func (e *env) waitQuiet(timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		last = e.quiet()
		if last == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("cluster did not settle: %s", last)
}

func (e *env) quiet() string {
	nodes := e.running()
	var idx uint64
	var hash []byte
	for i, n := range nodes {
		st := n.Store()
		p, err := st.Pending()
		if err != nil {
			return err.Error()
		}
		if len(p) > 0 {
			return fmt.Sprintf("%s has %d open intents", n.ID(), len(p))
		}
		a := st.AppliedIndex()
		h, err := st.Hash()
		if err != nil {
			return err.Error()
		}
		if st.AppliedIndex() != a {
			return "still applying"
		}
		if i == 0 {
			idx, hash = a, h
			continue
		}
		if a != idx {
			return fmt.Sprintf("%s applied %d, %s applied %d", nodes[0].ID(), idx, n.ID(), a)
		}
		if !bytes.Equal(h, hash) {
			return fmt.Sprintf("state hash of %s differs from %s at index %d", n.ID(), nodes[0].ID(), a)
		}
	}
	return ""
}

// checkInvariants checks, after quiescence: every approval a register saw
// is approved on every running node with the same auth code (I1, I2);
// repeats got the original answer (I2); the cluster's totals equal the
// acquirer's (I4).
func (e *env) checkInvariants(results []regsim.Result) (approved int) {
	e.t.Helper()
	for _, r := range results {
		if r.RepeatMismatch {
			e.t.Errorf("%s: a repeat got a different answer than the original", r.Key)
		}
		if r.RC != wire.RCApproved {
			continue
		}
		approved++
		for _, n := range e.running() {
			tx, ok, err := n.Store().Get(r.Key)
			if err != nil || !ok {
				e.t.Errorf("%s: approval seen by the register is missing on %s (err %v)", r.Key, n.ID(), err)
				continue
			}
			if tx.Status != store.StatusApproved || tx.AuthCode != r.AuthCode || tx.Amount != r.Amount {
				e.t.Errorf("%s on %s: status %v auth %q amount %d; register saw 00 auth %q amount %d",
					r.Key, n.ID(), tx.Status, tx.AuthCode, tx.Amount, r.AuthCode, r.Amount)
			}
		}
	}
	want, err := e.sim.Totals()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, n := range e.running() {
		got, err := n.Store().Totals()
		if err != nil {
			e.t.Fatal(err)
		}
		if !sameTotals(got.Net, want.Net) {
			e.t.Errorf("totals of %s differ from the acquirer's:\ncluster  %v\nacquirer %v", n.ID(), got.Net, want.Net)
		}
	}
	return approved
}

// sameTotals compares net totals, treating a missing kind as zero.
func sameTotals[A, B any](a map[string]A, b map[string]B) bool {
	norm := func(m any) map[string][2]int64 {
		out := map[string][2]int64{}
		v := reflect.ValueOf(m)
		for _, k := range v.MapKeys() {
			s := v.MapIndex(k)
			c, a := s.FieldByName("Count").Int(), s.FieldByName("Amount").Int()
			if c != 0 || a != 0 {
				out[k.String()] = [2]int64{c, a}
			}
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
