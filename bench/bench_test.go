package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/wire"
)

// cluster is an in-process 3-node cluster with its acquirer simulator
// (strict, as tillbench local runs it), whose ledger, counters and
// settlement file are served over HTTP in the shape of acqsim's GET
// /ledger, /stats and /settlement.
type cluster struct {
	cl     *localcluster.Cluster
	acqsim string
}

func mustStartCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	var logw io.Writer = io.Discard
	if os.Getenv("TILLGATE_TEST_DEBUG") != "" {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acqsim"),
		Latency: sim.Latency{Max: 2 * time.Millisecond}, Dialect: wire.DefaultDialect(), Logger: log,
		Strict: true, StrictConfig: sim.StrictConfig{EchoEvery: time.Second, EchoTimeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, AcquirerAddr: s.Addr(), Logger: log,
		Tune: func(c *node.Config) {
			c.Raft.HeartbeatTimeout = time.Second
			c.Raft.ElectionTimeout = time.Second
			c.Raft.LeaderLeaseTimeout = 500 * time.Millisecond
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /settlement", func(w http.ResponseWriter, r *http.Request) {
		from, err1 := time.Parse(time.RFC3339Nano, r.URL.Query().Get("from"))
		to, err2 := time.Parse(time.RFC3339Nano, r.URL.Query().Get("to"))
		rows, err3 := s.Settlement(from, to)
		if err := errors.Join(err1, err2, err3); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sim.WriteSettlementCSV(w, rows, from, to)
	})
	mux.HandleFunc("GET /ledger", func(w http.ResponseWriter, _ *http.Request) {
		recs, err := s.Ledger()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"records": recs})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(s.Stats())
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &cluster{cl: cl, acqsim: srv.URL}
}

func (c *cluster) adminAddrs() []string {
	var out []string
	for _, cfg := range c.cl.Configs {
		out = append(out, cfg.AdminAddr)
	}
	return out
}

func TestRunAgainstInProcessClusterPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := mustStartCluster(t)
	out := t.TempDir()
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := RunAgainst(ctx, Options{
		RegisterAddrs: c.cl.RegisterAddrs(), AdminAddrs: c.adminAddrs(), AcqsimAdmin: c.acqsim,
		Registers: 20, Duration: 3 * time.Second, Think: 5 * time.Millisecond,
		RegisterDeadline: 4 * time.Second, SettleTimeout: 20 * time.Second,
		OutDir: out, Progress: &progress,
	})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass {
		t.Fatalf("FAIL: %+v", res.Checks)
	}
	if res.Summary.Completed == 0 || res.Summary.ByRC["00"] == 0 {
		t.Fatalf("no approvals: %+v", res.Summary)
	}
	// I4: every register's 0500 balanced with the cluster's totals.
	if b := res.Batches; b == nil || b.Balanced != 20 || !b.Equal() {
		t.Fatalf("register batches: %+v", b)
	}
	if !strings.Contains(progress.String(), "tx/s") || !strings.HasSuffix(strings.TrimSpace(progress.String()), "PASS") {
		t.Errorf("progress output lacks the live line or PASS")
	}
	var back Result
	js, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &back); err != nil || back.Summary.Completed != res.Summary.Completed || !back.Pass {
		t.Fatalf("report.json: err %v, completed %d", err, back.Summary.Completed)
	}
	if _, err := os.Stat(filepath.Join(out, "summary.txt")); err != nil {
		t.Fatal(err)
	}
}

// TestRunAgainstOpenLoop runs the open loop against a cluster that served
// a run before (same terminals): the checker judges what the second run
// added, and says so.
func TestRunAgainstOpenLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := mustStartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := Options{
		RegisterAddrs: c.cl.RegisterAddrs(), AdminAddrs: c.adminAddrs(), AcqsimAdmin: c.acqsim,
		Registers: 10, Duration: 2 * time.Second, Transactions: 100, RegisterDeadline: 4 * time.Second,
		SettleTimeout: 20 * time.Second, NoDayClose: true,
	}
	if res, err := RunAgainst(ctx, o); err != nil || !res.Pass {
		t.Fatalf("first run: %v %+v", err, res)
	}
	o.Registers, o.Transactions, o.Rate, o.NoDayClose = 50, 0, 200, false
	res, err := RunAgainst(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pass {
		t.Fatalf("FAIL: %+v\n%s", res.Checks, res.Verdict.Text)
	}
	// 400 arrivals expected; allow 5 sd (100) either way.
	if s := res.Summary; s.Offered < 300 || s.Offered > 500 || s.Completed+s.Dropped != s.Offered {
		t.Fatalf("offered %d, completed %d, dropped %d; want ~400 offered", s.Offered, s.Completed, s.Dropped)
	}
	if v := res.Verdict; v.Identities < 250 || !strings.Contains(strings.Join(v.Skipped, "\n"), "baseline: ") {
		t.Fatalf("verdict %d identities, skipped %q: want the first run left out", v.Identities, v.Skipped)
	}
}
