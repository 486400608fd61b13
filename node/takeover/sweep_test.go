package takeover

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/internal/nodetest"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/node/pipeline"
	"github.com/tillgate/tillgate/store"
)

type noRelay struct{}

func (noRelay) Link() *acquirer.Link { return nil }

type noSAF struct{}

func (noSAF) Wake(string) {}

// TestSweepResolvesOpenIntents: an INTENT left open on a healthy active is
// resolved by the active itself, as a repeat, once it is older than a
// request can take; a younger one is left to its request.
func TestSweepResolvesOpenIntents(t *testing.T) {
	r := nodetest.Start(t)
	views, log := leadership.NewTracker(), slog.New(slog.NewTextHandler(io.Discard, nil))
	timeout := nodetest.AcquirerTimeout + 5*time.Second
	p := pipeline.New(pipeline.Config{NodeID: "node1", RelayTimeout: timeout, Closing: make(chan struct{}),
		Raft: r.Raft, State: r.Store, Acquirers: r.Acquirers, Vault: r.Vault, Views: views,
		Relay: noRelay{}, SAF: noSAF{}, Health: r, Logger: log, Registerer: prometheus.NewRegistry()})
	w := New(Config{RequestTimeout: timeout, RegisterAddrOf: func(string) string { return "" },
		Raft: r.Raft, State: r.Store, Calls: p.Calls(), Resolver: p, Views: views, History: &leadership.History{},
		Fail: r.Fail, Logger: log, Registerer: prometheus.NewRegistry()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	nodetest.WaitUntil(t, "the node to serve", func() bool { return views.Current().Active() })

	old := r.Intent(t, "000001", time.Hour)
	young := r.Intent(t, "000002", 0)
	nodetest.WaitUntil(t, "the sweep", func() bool {
		tx, _, _ := r.Store.Get(old.ID)
		return tx.Status != store.StatusPending
	})
	tx, _, _ := r.Store.Get(old.ID)
	if tx.Status != store.StatusApproved || !tx.Repeat {
		t.Fatalf("swept INTENT %v repeat %v, want approved through a repeat", tx.Status, tx.Repeat)
	}
	if st := r.Sim.Stats(); st.Requests != 1 {
		t.Fatalf("acqsim saw %d requests, want the one repeat", st.Requests)
	}
	// The young one is swept too, but only once it is old enough.
	if tx, _, _ := r.Store.Get(young.ID); tx.Status == store.StatusPending {
		w.sweepOnce(context.Background(), time.Now().Add(-time.Hour))
		if tx, _, _ := r.Store.Get(young.ID); tx.Status != store.StatusPending {
			t.Fatalf("a sweep with a cutoff an hour ago resolved an INTENT of now")
		}
	}
}

// deposed is a leader that does not know yet that it was deposed: it reads
// the state it applied, and its Barrier fails.
type deposed struct{ *cluster.Cluster }

func (deposed) Barrier(context.Context) error { return cluster.ErrNotLeader }

// TestDeposedLeaderDoesNotSweep: a leader resumed from a pause finds
// INTENTs open in the state it applied, whose OUTCOMEs the next active may
// have committed: its sweep must not ask the acquirer about them.
func TestDeposedLeaderDoesNotSweep(t *testing.T) {
	r := nodetest.Start(t)
	views, log := leadership.NewTracker(), slog.New(slog.NewTextHandler(io.Discard, nil))
	timeout := nodetest.AcquirerTimeout + 5*time.Second
	p := pipeline.New(pipeline.Config{NodeID: "node1", RelayTimeout: timeout, Closing: make(chan struct{}),
		Raft: deposed{r.Raft}, State: r.Store, Acquirers: r.Acquirers, Vault: r.Vault, Views: views,
		Relay: noRelay{}, SAF: noSAF{}, Health: r, Logger: log, Registerer: prometheus.NewRegistry()})
	w := New(Config{RequestTimeout: timeout, RegisterAddrOf: func(string) string { return "" },
		Raft: deposed{r.Raft}, State: r.Store, Calls: p.Calls(), Resolver: p, Views: views, History: &leadership.History{},
		Fail: r.Fail, Logger: log, Registerer: prometheus.NewRegistry()})
	old := r.Intent(t, "000001", time.Hour)
	w.sweepOnce(context.Background(), time.Now())
	if st := r.Sim.Stats(); st.Requests != 0 {
		t.Fatalf("acqsim saw %d requests from a deposed leader's sweep, want none", st.Requests)
	}
	if tx, _, _ := r.Store.Get(old.ID); tx.Status != store.StatusPending {
		t.Fatalf("INTENT %v, want left open for the next active", tx.Status)
	}
}
