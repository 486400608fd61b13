package failover_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// outcome is what one Do ended as.
type outcome struct {
	key  string
	rc   string // "" when no answer
	auth string
	err  error
}

// TestClusterFailoverFromStandbyAddress runs a real 3-node cluster, gives the
// client every node with a standby's address first (hints are followed to
// configured nodes only), stops the leader mid-run, and checks that
// every request ended approved/declined or unknown-and-reversed, and that
// every approval is in the surviving nodes' stores.
func TestClusterFailoverFromStandbyAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect(),
		Latency: sim.Latency{Max: 2 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{
		Dir: dir, AcquirerAddr: s.Addr(), Logger: quietLogger(t),
		Tune: func(c *node.Config) {
			c.Raft.HeartbeatTimeout = time.Second
			c.Raft.ElectionTimeout = time.Second
			c.Raft.LeaderLeaseTimeout = 500 * time.Millisecond
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	// The workers' terminals (TERM0000-TERM0007), before the leader is
	// read: the registration may meet an election.
	if err := cl.RegisterTerminals(30*time.Second, store.TerminalRange{From: "TERM0000", To: "TERM0099", Merchant: "MERCHANT0000001", Store: "store-1"}); err != nil {
		t.Fatal(err)
	}
	leader, err := cl.WaitLeader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	standby := (leader + 1) % 3

	var evMu sync.Mutex
	var failovers []time.Duration
	queuedKeys := map[string]bool{}
	cfg := failover.DefaultConfig()
	cfg.Nodes = []string{cl.Configs[standby].RegisterAddr}
	for i := range cl.Configs {
		if i != standby {
			cfg.Nodes = append(cfg.Nodes, cl.Configs[i].RegisterAddr)
		}
	}
	cfg.ReversalQueue = filepath.Join(dir, "register.db")
	cfg.DialTimeout = time.Second
	cfg.Deadline = 15 * time.Second
	cfg.AttemptTimeout = 3 * time.Second
	cfg.Hold = 10 * time.Second
	cfg.ReversalBackoffMin = 200 * time.Millisecond
	cfg.ReversalBackoffMax = time.Second
	cfg.Logger = quietLogger(t)
	cfg.OnEvent = func(e failover.Event) {
		evMu.Lock()
		defer evMu.Unlock()
		switch e.Kind {
		case failover.EventFailover:
			failovers = append(failovers, e.Recovery)
		case failover.EventReversalQueued:
			queuedKeys[e.Key] = true
		}
	}
	c, err := failover.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const workers, perWorker = 8, 40
	var mu sync.Mutex
	var results []outcome
	var wg sync.WaitGroup
	progress := make(chan struct{}, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				req := clusterPurchase(w, i)
				resp, err := c.Do(context.Background(), req)
				o := outcome{key: req.Key(), err: err}
				if err == nil {
					o.rc, o.auth = resp.ResponseCode, resp.AuthCode
				}
				mu.Lock()
				results = append(results, o)
				mu.Unlock()
				progress <- struct{}{}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	for range workers * 5 {
		<-progress
	}
	if c.Active() != cl.Configs[leader].RegisterAddr {
		t.Errorf("client did not follow the hint to the leader: active %s", c.Active())
	}
	if err := cl.StopNode(leader); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	evMu.Lock()
	queue := queuedOf(t, c, queuedKeys)
	evMu.Unlock()
	approved := 0
	for _, r := range results {
		switch {
		case r.err == nil && r.rc == wire.RCApproved:
			approved++
		case r.err == nil:
		case errors.Is(r.err, failover.ErrOutcomeUnknown):
			if !queue[r.key] {
				t.Errorf("%s: unknown outcome without a queued reversal", r.key)
			}
		default:
			t.Errorf("%s: %v", r.key, r.err)
		}
	}
	if approved == 0 {
		t.Fatal("nothing approved")
	}
	for i, n := range cl.Nodes {
		if n == nil {
			continue
		}
		waitApprovals(t, n, results, cl.Configs[i].ID)
	}
	evMu.Lock()
	t.Logf("%d requests, %d approved, %d unknown; failovers %v; stats %+v",
		len(results), approved, len(queue), failovers, c.Stats())
	evMu.Unlock()
	if c.Stats().Failovers == 0 {
		t.Error("no failover recorded")
	}
}

// queuedOf returns the original keys of what the client queued. Reversals
// acknowledged already are gone from the queue: count those by event.
func queuedOf(t *testing.T, c *failover.Client, acked map[string]bool) map[string]bool {
	t.Helper()
	qs, err := c.Queued()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(qs)+len(acked))
	for _, q := range qs {
		out[q.Of] = true
	}
	for k := range acked {
		out[k] = true
	}
	return out
}

func quietLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// waitApprovals checks that every approval a register saw is approved, with
// the same auth code, on node n (replication may lag a moment).
func waitApprovals(t *testing.T, n *node.Node, results []outcome, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range results {
		if r.err != nil || r.rc != wire.RCApproved {
			continue
		}
		for {
			tx, ok, err := n.Store().Get(r.key)
			if err == nil && ok && tx.Status == store.StatusApproved && tx.AuthCode == r.auth {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: approval seen by the register is not approved on %s (found %v, err %v)", r.key, id, ok, err)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func clusterPurchase(w, i int) *wire.Message {
	now := time.Now().UTC()
	return &wire.Message{
		MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: int64(100 + i), HasAmount: true,
		TransmissionTime: now.Format("0102150405"), STAN: fmt.Sprintf("%06d", i+1),
		LocalTime: now.Format("150405"), LocalDate: now.Format("0102"), Expiry: "3012",
		POSEntryMode: "051", POSCondition: "00",
		TerminalID: fmt.Sprintf("TERM%04d", w), MerchantID: "MERCHANT0000001", Currency: "978",
	}
}
