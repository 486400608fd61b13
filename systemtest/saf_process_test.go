package systemtest

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// acqsimFault runs `acqsim fault` against the simulator's admin API.
func (p *procCluster) acqsimFault(args ...string) {
	p.t.Helper()
	args = append([]string{"fault", "--admin", p.acqAdmin}, args...)
	out, err := exec.Command(filepath.Join(p.bin, "acqsim"), args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("acqsim %v: %v\n%s", args, err, out)
	}
}

// safDepth is node i's SAF queue depth from its status page; -1 when it
// does not answer.
func (p *procCluster) safDepth(i int) int {
	d, _ := p.safStatus(i)
	return d
}

// safStatus is node i's SAF queue depth and applied index; depth -1 when
// it does not answer.
func (p *procCluster) safStatus(i int) (depth int, applied uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin[i]+"/status.json", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, 0
	}
	defer resp.Body.Close()
	var doc struct {
		Node struct {
			AppliedIndex uint64 `json:"applied_index"`
		} `json:"node"`
		SAF struct {
			Depth int `json:"depth"`
		} `json:"saf"`
	}
	if json.NewDecoder(resp.Body).Decode(&doc) != nil {
		return -1, 0
	}
	return doc.SAF.Depth, doc.Node.AppliedIndex
}

// TestProcessSAFSurvivesKill: with acqsim down (set with `acqsim fault`),
// registers on the failover client keep selling on stand-in; the advices
// queue in the replicated state. The active is SIGKILLed; the next active
// delivers every advice once acqsim is back, and the ledgers agree (I1-I5).
func TestProcessSAFSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	p := startProcClusterWith(t, func(cfg map[string]any) {
		cfg["acquirer"].(map[string]any)["timeout"] = "500ms"
		cfg["saf"] = map[string]any{"min_backoff": "100ms", "max_backoff": "1s", "poll": "200ms"}
		cfg["stand_in"] = map[string]any{"enabled": true, "floor_limit": 100000}
	})
	first := p.leader(60 * time.Second)
	acqUp := p.injected("acquirer-down", "acqsim")
	p.acqsimFault("--down")

	fleet := newFailoverFleet(t, t.TempDir(), 20, 0, func(i int) []string {
		return []string{p.reg[i%3], p.reg[(i+1)%3], p.reg[(i+2)%3]}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	fleet.run(ctx, 0, 100*time.Millisecond)
	cancel()
	standIns := 0
	for _, r := range fleet.results {
		if r.RC == wire.RCApproved {
			if !strings.HasPrefix(r.AuthCode, "S") {
				t.Fatalf("%s approved with auth %q while the acquirer was down", r.Key, r.AuthCode)
			}
			standIns++
		}
	}
	if standIns < 20 {
		t.Fatalf("only %d stand-ins", standIns)
	}
	if d := p.safDepth(first); d < standIns {
		t.Fatalf("the active's queue holds %d, want at least the %d advices", d, standIns)
	}

	t.Logf("%d stand-ins queued; SIGKILL %s (the active)", standIns, p.ids[first])
	p.kill(first)
	next := p.leader(60 * time.Second)
	if d := p.safDepth(next); d < standIns {
		t.Fatalf("the new active's queue holds %d, want at least %d", d, standIns)
	}
	p.acqsimFault() // healthy again
	acqUp()
	waitFor(t, "the new active to drain the queue", func() bool { return p.safDepth(next) == 0 })
	p.start(first)
	// An empty queue alone is no proof: the restarted node discarded its
	// unclean state and has an empty queue until Raft has replayed it.
	_, target := p.safStatus(next)
	waitFor(t, "the restarted node to catch up", func() bool {
		d, applied := p.safStatus(first)
		return d == 0 && applied >= target
	})
	fleet.drain(t)
	checkProcessInvariantsMin(t, p, fleet, fleet.results, standIns)
	t.Logf("%d transactions, %d stand-ins delivered after the failover", len(fleet.results), standIns)
}
