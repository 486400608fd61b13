package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// tillctl schema upgrade converts every node's state at one log entry: all
// nodes show schema 5 and, at one applied index, one hash; transactions go
// on; an unknown version is refused before anything is committed.
func TestSchemaUpgrade(t *testing.T) {
	cl := startCluster(t, 3)
	leader := cl.Leader()
	ep := cl.Configs[leader].AdminAddr
	reg := cl.Configs[leader].RegisterAddr
	if rc := purchase(t, reg, "TERM0001", 1, 100); rc != "00" {
		t.Fatalf("purchase before: RC %s", rc)
	}
	out, errs, code := tillctl("schema", "--endpoints", ep, "--token", "tok")
	if code != 0 || !strings.HasPrefix(out, "schema 4 (") || !strings.Contains(out, "knows 4, 5") {
		t.Fatalf("schema: exit %d %q %s", code, out, errs)
	}
	_, errs, code = tillctl("schema", "upgrade", "6", "--endpoints", ep, "--token", "tok")
	if code != 1 || !strings.Contains(errs, "schema 6 not committed") {
		t.Fatalf("upgrade 6: exit %d %s", code, errs)
	}
	out, errs, code = tillctl("schema", "upgrade", "--endpoints", ep, "--token", "tok")
	if code != 0 || !strings.HasPrefix(out, "schema 5 (") {
		t.Fatalf("upgrade: exit %d %q %s", code, out, errs)
	}
	if rc := purchase(t, reg, "TERM0001", 2, 200); rc != "00" {
		t.Fatalf("purchase after: RC %s", rc)
	}
	// Every node converts at the same entry: wait until all show schema 5
	// and agree on the hash at one applied index.
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var hashes []adminapi.Hash
		lean := 0
		for _, cfg := range cl.Configs {
			c := adminapi.NewClient(cfg.AdminAddr)
			c.Token = "tok"
			s, err := c.Schema(ctx)
			if err == nil && s.Current == "5" {
				lean++
			}
			if h, err := c.Hash(ctx); err == nil {
				hashes = append(hashes, h)
			}
		}
		if lean == len(cl.Configs) && len(hashes) == len(cl.Configs) &&
			hashes[0] == hashes[1] && hashes[1] == hashes[2] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes on schema 5: %d of %d; hashes %+v", lean, len(cl.Configs), hashes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
