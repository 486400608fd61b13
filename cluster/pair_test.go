package cluster_test

import (
	"errors"
	"testing"

	"github.com/tillgate/tillgate/cluster"
)

// TestRefusesStateWithoutLog: a state machine that applied entries must not
// start over an empty Raft log (a backup copied in, a raft dir deleted):
// every new entry up to its applied index would be skipped and lost.
func TestRefusesStateWithoutLog(t *testing.T) {
	cfg := cluster.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.BindAddr = "n1", t.TempDir(), "127.0.0.1:0"
	cfg.Bootstrap = true
	sm := &memSM{applied: 42}
	c, err := cluster.Open(cfg, sm)
	if err == nil {
		c.Close()
		t.Fatal("opened a state at index 42 over an empty Raft log")
	}
	if !errors.Is(err, cluster.ErrStateMismatch) {
		t.Fatalf("got %v, want ErrStateMismatch", err)
	}
}
