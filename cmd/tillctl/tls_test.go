package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/node"
)

func TestCACert(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("admin CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteFile(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssueFiles(dir, "node", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, Nodes: 1, AcquirerAddr: "127.0.0.1:1",
		Tune: func(c *node.Config) { c.AdminToken, c.AdminCertFile, c.AdminKeyFile = "tok", cert, key }})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ep := cl.Configs[0].AdminAddr

	out, stderr, code := tillctl("status", "--endpoints", ep, "--token", "tok", "--cacert", caFile, "-o", "json")
	if code != 0 || !strings.Contains(out, `"id": "node1"`) {
		t.Fatalf("status with --cacert: exit %d\n%s%s", code, out, stderr)
	}
	t.Setenv("TILLCTL_CACERT", caFile)
	if out, stderr, code := tillctl("status", "--endpoints", "https://"+ep, "--token", "tok", "-o", "json"); code != 0 {
		t.Fatalf("status with $TILLCTL_CACERT and an https URL: exit %d\n%s%s", code, out, stderr)
	}
	t.Setenv("TILLCTL_CACERT", "")

	if _, stderr, code := tillctl("status", "--endpoints", ep, "--token", "tok"); code != 1 || !strings.Contains(stderr, "use an https:// address") {
		t.Fatalf("status over plain HTTP: exit %d, stderr %q; want 1 and a hint to use https", code, stderr)
	}
	missing := filepath.Join(dir, "missing.pem")
	if _, stderr, code := tillctl("status", "--endpoints", ep, "--cacert", missing); code != 1 || !strings.Contains(stderr, "--cacert") {
		t.Fatalf("--cacert missing: exit %d, stderr %q; want 1 naming --cacert", code, stderr)
	}
}
