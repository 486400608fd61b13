package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/bench"
	"github.com/tillgate/tillgate/history"
)

// TestLocal runs `tillbench local` end to end: real tillgate and acqsim
// processes (built from this module), small closed-loop runs: 3 nodes with
// one SIGKILL of the active under load, 3 nodes with the active SIGSTOPped
// for 2 s, 1 node. Each must PASS and the reports say what happened.
func TestLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tillgate and acqsim processes")
	}
	for _, tc := range []struct {
		name   string
		args   []string
		txns   int64 // 0: a timed run
		faults int
		nodes  []string
	}{
		// Timed, not a count of transactions: a fast cluster would finish
		// a count before the kill comes.
		{"3 nodes, one kill of the active", []string{"--nodes", "3", "--registers", "20", "--duration", "8s", "--think", "20ms",
			"--kill-active-every", "2s", "--kills", "1", "--restart-after", "1s"}, 0, 1, []string{"acqsim", "node1", "node2", "node3", "tillbench"}},
		{"3 nodes, the active paused", []string{"--nodes", "3", "--registers", "10", "--duration", "8s", "--pause-active", "2s",
			"--register-deadline", "6s", "--think", "20ms"}, 0, 1, []string{"acqsim", "node1", "node2", "node3", "tillbench"}},
		{"1 node without replication", []string{"--nodes", "1", "--registers", "10", "--transactions", "300"}, 300, 0, []string{"acqsim", "node1", "tillbench"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			args := append([]string{"local", "--duration", "2m", "--out", out, "--dir", filepath.Join(t.TempDir(), "work")}, tc.args...)
			// (a later --duration wins)
			code := run(ctx, args, &stdout, &stderr)
			t.Log(stdout.String())
			if code != 0 || !strings.HasSuffix(strings.TrimSpace(stdout.String()), "PASS") {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
			}
			res := readReport(t, out)
			if (tc.txns > 0 && res.Summary.Completed != tc.txns) || res.Summary.ByRC["00"] == 0 {
				t.Errorf("completed %d (approved %d), want %d", res.Summary.Completed, res.Summary.ByRC["00"], tc.txns)
			}
			checkFaults(t, res, tc.faults, stdout.String())
			checkVerdict(t, res, out, tc.faults)
			var nodes []string
			for _, r := range res.Resources {
				nodes = append(nodes, r.Node)
				if r.CPUSeconds <= 0 || r.MaxRSS <= 0 {
					t.Errorf("resources of %s: %+v", r.Node, r)
				}
			}
			if strings.Join(nodes, ",") != strings.Join(tc.nodes, ",") {
				t.Errorf("resources for %v, want %v", nodes, tc.nodes)
			}
			html, err := os.ReadFile(filepath.Join(out, "report.html"))
			if err != nil || strings.Count(string(html), "<svg") != 3 {
				t.Errorf("report.html: %d plots, err %v", strings.Count(string(html), "<svg"), err)
			}
		})
	}
}

func readReport(t *testing.T, dir string) bench.Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// checkVerdict: the checker judged the run over the registers' history,
// written beside the report, and knew of the faults injected.
func checkVerdict(t *testing.T, res bench.Result, out string, faults int) {
	t.Helper()
	v := res.Verdict
	if v == nil || !v.OK || v.Identities == 0 || v.Nodes == 0 || v.AcqRecords == 0 || v.Faults != faults || len(res.Injected) != faults {
		t.Fatalf("verdict %+v, faults injected %+v; want %d", v, res.Injected, faults)
	}
	events, err := history.ReadFile(filepath.Join(out, "history.jsonl"))
	if err != nil || len(events) < v.Identities {
		t.Fatalf("history.jsonl: %d events (err %v) for %d identities", len(events), err, v.Identities)
	}
	if res.Acqsim == nil {
		t.Error("no acqsim counters in the report")
	}
}

func checkFaults(t *testing.T, res bench.Result, faults int, stdout string) {
	t.Helper()
	got := strings.Count(stdout, "fault: SIGKILL") + strings.Count(stdout, "fault: SIGSTOP")
	if got != faults || len(res.Summary.Faults) != faults {
		t.Fatalf("%d faults printed, %d in the report, want %d", got, len(res.Summary.Faults), faults)
	}
	for _, f := range res.Summary.Faults {
		if f.Resumed == 0 || f.P50 <= 0 || f.P99 < f.P50 || f.Back <= f.At {
			t.Errorf("fault %+v", f)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"run", "--registers", "5"}, 2},      // no addresses
		{[]string{"local", "--mix", "cashback=1"}, 2}, // unknown kind
		{[]string{"local", "--bogus"}, 1},             // internal/cli: a flag error is exit 1
		{[]string{"nosuch"}, 2},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %s)", tc.args, code, tc.code, stderr.String())
		}
	}
}
