package cluster_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/tillgate/tillgate/cluster"
)

// TestRefusesLogInRaftDB: an older version kept the Raft log in raft.db;
// the node must refuse to start and say how to rejoin, not start with an
// empty log beside it.
func TestRefusesLogInRaftDB(t *testing.T) {
	dir := t.TempDir()
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.StoreLogs([]*raft.Log{{Index: 1, Term: 1}, {Index: 2, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := bolt.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := cluster.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.BindAddr = "n1", dir, "127.0.0.1:0"
	cfg.Bootstrap = true
	c, err := cluster.Open(cfg, &memSM{})
	if err == nil {
		c.Close()
		t.Fatal("opened a node whose raft.db holds log entries")
	}
	if !errors.Is(err, cluster.ErrOldLogFormat) || !strings.Contains(err.Error(), "empty data dir") {
		t.Fatalf("got %v, want ErrOldLogFormat saying what to do", err)
	}
}
