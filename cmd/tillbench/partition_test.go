package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/internal/faultnet"
)

// TestPartitionRefused: without root and iptables, --partition-active is
// refused with faultnet's reason, before anything starts.
func TestPartitionRefused(t *testing.T) {
	if faultnet.Available() == nil {
		t.Skip("faultnet is available here: TestLocalPartition (make chaos) runs the fault")
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"local", "--partition-active", "1s", "--dir", t.TempDir()}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "faultnet") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestLocalPartition runs `tillbench local --partition-active`: the active
// cut off from its peers for 3 s under load, its nodes running as users of
// their own; the run passes and reports the fault, the registers' resume
// and the election. Part of make chaos (root and iptables).
func TestLocalPartition(t *testing.T) {
	if err := faultnet.Available(); err != nil {
		t.Skipf("partition skipped: %v", err)
	}
	if testing.Short() || os.Getenv("CHAOS_OUT") == "" {
		t.Skip("make chaos runs it (CHAOS_OUT set): starts tillgate and acqsim processes")
	}
	dir, err := os.MkdirTemp("", "tillbench-partition-") // reachable by the nodes' users
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"local", "--registers", "50", "--think", "50ms", "--duration", "16s", "--partition-active", "3s",
		"--raft-timeout", "1s", "--out", out, "--dir", filepath.Join(dir, "work")}, &stdout, &stderr)
	t.Log(stdout.String())
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(stdout.String()), "PASS") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	res := readReport(t, out)
	if res.Options.Local == nil || !res.Options.Local.AsUsers || len(res.Injected) != 1 || res.Injected[0].Kind != "partition" {
		t.Fatalf("local %+v, faults %+v", res.Options.Local, res.Injected)
	}
	r := res.Resume[0]
	if r.Resumed != r.Registers || r.Elections == 0 || r.FromFault.P99 <= 0 {
		t.Fatalf("resume %+v", r)
	}
	checkVerdict(t, res, out, 1)
}
