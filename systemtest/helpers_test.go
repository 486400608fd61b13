package systemtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/internal/regsim"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// env is one cluster with its acquirer simulator, and the history of every
// register that runs against it.
type env struct {
	t    testing.TB
	dir  string
	sim  *sim.Sim
	cl   *localcluster.Cluster
	hist *history.Log
	// faults are those the test injected, for the checker's report.
	faults []check.Fault
	// certs are the TLS files of a cluster of mustStartTLS; nil: plain.
	certs *pki.Files
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
	return startEnv(t, t.TempDir(), nil, tune)
}

// mustStartTLS is mustStart with registers over TLS (the register
// certificate, CN demo-store, required) and Raft over mutual TLS: the
// demo's --tls. The files are in e.certs.
func mustStartTLS(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	certs, err := pki.WriteCluster(filepath.Join(dir, "tls"), "demo-store", localcluster.CertNames(3))
	if err != nil {
		t.Fatal(err)
	}
	return startEnv(t, dir, certs, nil)
}

func startEnv(t testing.TB, dir string, certs *pki.Files, tune func(*node.Config)) *env {
	t.Helper()
	s, err := sim.Open(sim.Config{
		Addr:    "127.0.0.1:0",
		DataDir: filepath.Join(dir, "acqsim"),
		Latency: sim.Latency{Min: 0, Max: 2 * time.Millisecond},
		Dialect: wire.DefaultDialect(),
		Logger:  testLogger(t),
		// As strict as a real host (duplicates 94, unknown originals 25,
		// STAN reuse, its own echoes).
		Strict:       true,
		StrictConfig: sim.StrictConfig{EchoEvery: 2 * time.Second, EchoTimeout: 5 * time.Second},
		TLS:          acqsimTLS(t, certs),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{
		Dir:          dir,
		AcquirerAddr: s.Addr(),
		Logger:       testLogger(t),
		TLS:          certs,
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
	// The regsim fleets of these tests: bases 0 (fleetConfig) and 1000
	// per phase (the day clock test).
	if err := cl.RegisterTerminals(time.Minute, store.TerminalRange{From: "T0000000", To: "T0009999", Merchant: regsim.Merchant, Store: "systemtest"}); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, sim: s, cl: cl, hist: history.New(), certs: certs}
}

// fleetConfig is a register fleet against e's nodes, 10% of transactions
// repeated.
func (e *env) fleetConfig(registers, per int) regsim.Config {
	cfg := regsim.DefaultConfig()
	cfg.Addrs = e.cl.RegisterAddrs()
	cfg.Registers, cfg.PerRegister = registers, per
	cfg.ThinkTime = 5 * time.Millisecond
	cfg.RepeatRatio = 0.1
	cfg.History = e.hist
	return cfg
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(float64(len(d)-1)*p)]
}

// admins are the admin clients of the nodes that are up (over HTTPS,
// trusting the cluster's CA, in a TLS cluster).
func (e *env) admins() []*adminapi.Client {
	var out []*adminapi.Client
	for i, n := range e.cl.Nodes {
		if n != nil {
			out = append(out, e.admin(i))
		}
	}
	return out
}

// admin is node i's admin client.
func (e *env) admin(i int) *adminapi.Client {
	if e.certs == nil {
		return adminapi.NewClient(e.cl.Configs[i].AdminAddr)
	}
	tc, err := localcluster.AdminTLS(e.certs)
	if err != nil {
		e.t.Fatal(err)
	}
	return adminapi.NewTLSClient(e.cl.Configs[i].AdminAddr, tc)
}

// acqsimTLS is the acquirer simulator's TLS in a TLS cluster, nil without.
func acqsimTLS(t testing.TB, certs *pki.Files) *tls.Config {
	if certs == nil {
		return nil
	}
	tc, err := localcluster.AcqsimTLS(certs)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// waitQuiet waits until the running nodes have applied the same index with
// the same state hash (I5), hold no open INTENT and owe the acquirer
// nothing.
func (e *env) waitQuiet(timeout time.Duration) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := check.WaitQuiet(ctx, e.admins(), 100*time.Millisecond); err != nil {
		e.t.Fatalf("cluster did not settle: %v", err)
	}
}

// checkInvariants judges the run with the checker (every register's
// history against every running node and the acquirer's ledger), after
// quiescence, and checks what the regsim registers noticed themselves: a
// repeat that got another answer (I2). It returns the approvals the
// registers hold.
func (e *env) checkInvariants(results []regsim.Result) (approved int) {
	e.t.Helper()
	for _, r := range results {
		if r.RepeatMismatch {
			e.t.Errorf("%s: a repeat got a different answer than the original", r.Key)
		}
		if r.RC == wire.RCApproved {
			approved++
		}
	}
	judge(e.t, e.admins(), judged{history: e.hist, ledger: ledgerOf(e.sim), faults: e.faults})
	return approved
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
