package node_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// TestRestoreBackup: a backup restored into a new single-voter cluster
// keeps every transaction, and the new log continues after the backup's
// index so that new transactions are recorded (not skipped as applied).
func TestRestoreBackup(t *testing.T) {
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, Nodes: 1, AcquirerAddr: s.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	registerTestTerminals(t, cl)
	c := dial(t, cl.Configs[0].RegisterAddr)
	before := purchase(1500)
	if r := c.roundTrip(before); r.ResponseCode != "00" {
		t.Fatalf("purchase: %s", r.ResponseCode)
	}
	backup := filepath.Join(dir, "backup.db")
	writeBackup(t, cl.Nodes[0].Store(), backup)
	applied, _ := store.AppliedIndexOf(backup)
	cl.Close()

	ports, err := localcluster.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.ID, cfg.DataDir = "restored", filepath.Join(dir, "restored")
	cfg.RegisterAddr, cfg.RaftAddr, cfg.AdminAddr = ports[0], ports[1], ports[2]
	cfg.Peers = []node.Peer{{ID: cfg.ID, RaftAddr: cfg.RaftAddr, RegisterAddr: cfg.RegisterAddr}}
	cfg.CardKeyFile, cfg.Acquirer.Addr = cl.Configs[0].CardKeyFile, s.Addr()
	if err := node.RestoreBackup(cfg, backup); err != nil {
		t.Fatal(err)
	}
	if err := node.RestoreBackup(cfg, backup); err == nil {
		t.Fatal("restored twice into the same data directory")
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitFor(t, func() bool { return n.IsLeader() })

	if tx, ok, _ := n.Store().Get(before.Key()); !ok || tx.Status != store.StatusApproved {
		t.Fatalf("transaction from before the backup: %+v %v", tx, ok)
	}
	c2 := dial(t, cfg.RegisterAddr)
	after := purchase(1600)
	if r := c2.roundTrip(after); r.ResponseCode != "00" {
		t.Fatalf("purchase after restore: %s", r.ResponseCode)
	}
	if tx, ok, _ := n.Store().Get(after.Key()); !ok || tx.Status != store.StatusApproved {
		t.Fatalf("a transaction after the restore was not recorded: %+v %v", tx, ok)
	}
	if n.Store().AppliedIndex() <= applied {
		t.Fatalf("applied index %d, want beyond the backup's %d", n.Store().AppliedIndex(), applied)
	}
}

func writeBackup(t *testing.T, s *store.Store, path string) {
	t.Helper()
	rc, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
