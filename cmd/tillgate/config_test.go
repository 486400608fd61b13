package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node"
)

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	os.WriteFile(path, []byte(`{"id":"node2","data_dir":"/d","peers":[{"id":"node2","raft_addr":"h:7002","register_addr":"h:8584"}],"acquirer":{"addr":"a:1","timeout":"3s"},"raft":{"election_timeout":"700ms"}}`), 0o600)
	cfg := node.DefaultConfig()
	if err := loadConfig(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "node2" || cfg.Acquirer.Timeout != 3*time.Second || cfg.Raft.ElectionTimeout != 700*time.Millisecond || cfg.MaxFrame != 4096 ||
		len(cfg.Peers) != 1 || cfg.Peers[0].RegisterAddr != "h:8584" {
		t.Fatalf("got %+v", cfg)
	}
	os.WriteFile(path, []byte(`{"idd":"x"}`), 0o600)
	if err := loadConfig(path, &cfg); err == nil || !strings.Contains(err.Error(), "idd") {
		t.Fatalf("an unknown key must be named, got %v", err)
	}
}

func TestParsePeers(t *testing.T) {
	p, err := parsePeers("n1=127.0.0.1:7001/127.0.0.1:8583, n2=h:7002/h:8584")
	if err != nil || len(p) != 2 || p[1] != (node.Peer{ID: "n2", RaftAddr: "h:7002", RegisterAddr: "h:8584"}) {
		t.Fatalf("got %+v %v", p, err)
	}
	if _, err := parsePeers("n1=127.0.0.1:7001"); err == nil {
		t.Fatal("a peer without a register address must be refused")
	}
}
