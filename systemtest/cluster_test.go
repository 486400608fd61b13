package systemtest

import (
	"testing"
	"time"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/internal/regsim"
)

// TestThreeNodesUnderLoad: 200 registers make 2,000 transactions, 10% of
// them sent again as repeats, against 3 nodes and the acquirer simulator.
func TestThreeNodesUnderLoad(t *testing.T) {
	e := mustStart(t)
	ctx, cancel := withTimeout(5 * time.Minute)
	defer cancel()
	f := regsim.New(e.fleetConfig(200, 10))
	results := f.Run(ctx)
	if len(results) != 2000 {
		t.Fatalf("registers finished %d transactions, want 2000", len(results))
	}
	for _, r := range results {
		if r.RC == "" {
			t.Errorf("%s: no answer in a run without faults", r.Key)
		}
	}
	if f.Stats.Repeats.Load() < 100 {
		t.Errorf("only %d repeats sent; the test wants about 10%% of 2000", f.Stats.Repeats.Load())
	}
	e.waitQuiet(time.Minute)
	approved := e.checkInvariants(results)
	if approved < 1000 {
		t.Errorf("only %d approvals; the simulator's rules should approve most", approved)
	}
	st := e.sim.Stats()
	if st.Duplicates != 0 {
		t.Errorf("the acquirer saw %d repeated identities in a run without faults: asked twice", st.Duplicates)
	}
}

// TestLeaderStop stops the active mid-load; the other two elect and keep
// serving, and nothing is lost or doubled.
func TestLeaderStop(t *testing.T) {
	e := mustStart(t)
	ctx, cancel := withTimeout(5 * time.Minute)
	defer cancel()
	f := regsim.New(e.fleetConfig(100, 0))
	done := make(chan struct{})
	var results []regsim.Result
	go func() { results = f.Run(ctx); close(done) }()

	waitFor(t, "first approvals", func() bool { return f.Stats.Approved.Load() >= 300 })
	old := e.cl.Leader()
	e.faults = append(e.faults, check.Fault{Kind: "stop", Target: e.cl.Configs[old].ID, At: time.Now()})
	if err := e.cl.StopNode(old); err != nil {
		t.Fatalf("stop leader: %v", err)
	}
	if _, err := e.cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	after := f.Stats.Approved.Load()
	waitFor(t, "approvals after the failover", func() bool { return f.Stats.Approved.Load() >= after+300 })
	cancel()
	<-done

	e.waitQuiet(time.Minute)
	if n := e.checkInvariants(results); n < 600 {
		t.Errorf("only %d approvals", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
