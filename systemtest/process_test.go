package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/internal/regsim"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// procCluster is a cluster of real `tillgate serve` processes and an
// `acqsim serve` process, for the faults only whole processes show: SIGKILL
// with work in flight, SIGSTOP, restarts from the files on disk.
type procCluster struct {
	t      *testing.T
	dir    string
	bin    string
	acqDir string
	acq    *exec.Cmd
	ids    []string
	reg    []string // register addresses
	admin  []string
	procs  []*exec.Cmd // nil while a node is down

	acqAdmin string // acqsim's admin address (faults, ledger)
	logLevel string // the nodes' --log-level

	// faults are those injected, with their times, for the checker's
	// report: a kill ends when the node is started again.
	faults []check.Fault
}

// injected records a fault from now on; end marks it over.
func (p *procCluster) injected(kind, target string) (end func()) {
	i := len(p.faults)
	p.faults = append(p.faults, check.Fault{Kind: kind, Target: target, At: time.Now()})
	return func() { p.faults[i].End = time.Now() }
}

// buildBinaries compiles tillgate and acqsim once per test binary run.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/tillgate/tillgate/cmd/tillgate", "github.com/tillgate/tillgate/cmd/acqsim")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

func startProcCluster(t *testing.T) *procCluster {
	t.Helper()
	return startProcClusterWith(t, nil)
}

// startProcClusterWith lets tune change each node's JSON config.
func startProcClusterWith(t *testing.T, tune func(cfg map[string]any)) *procCluster {
	t.Helper()
	return startProcClusterLogging(t, tune, "warn")
}

// startProcClusterLogging is startProcClusterWith with the nodes and
// acqsim logging at level (their logs are files in the cluster's dir).
func startProcClusterLogging(t *testing.T, tune func(cfg map[string]any), level string) *procCluster {
	t.Helper()
	p := &procCluster{t: t, dir: t.TempDir(), bin: buildBinaries(t), ids: []string{"node1", "node2", "node3"}, logLevel: level}
	// Below the range the in-process tests of other packages use: a killed
	// node's ports must still be free when it restarts.
	addrs, err := localcluster.FreePortsIn(10000, 20000, 11)
	if err != nil {
		t.Fatal(err)
	}
	p.reg, p.admin = addrs[0:3], addrs[6:9]
	raft, acqAddr, acqAdmin := addrs[3:6], addrs[9], addrs[10]
	p.acqAdmin = acqAdmin
	p.acqDir = filepath.Join(p.dir, "acqsim")
	p.acq = p.spawn("acqsim.log", filepath.Join(p.bin, "acqsim"), "serve", "--listen", acqAddr, "--admin", acqAdmin,
		"--data", p.acqDir, "--latency", "0-2ms", "--log-level", level, "--strict", "--echo-every", "2s", "--echo-timeout", "5s")
	key := filepath.Join(p.dir, "card.key")
	if _, err := store.WriteNewKeyFile(key); err != nil {
		t.Fatal(err)
	}
	var peers []map[string]string
	for i, id := range p.ids {
		peers = append(peers, map[string]string{"id": id, "raft_addr": raft[i], "register_addr": p.reg[i], "admin_addr": p.admin[i]})
	}
	for i, id := range p.ids {
		cfg := map[string]any{
			"id": id, "data_dir": filepath.Join(p.dir, id), "register_addr": p.reg[i], "raft_addr": raft[i],
			"admin_addr": p.admin[i], "bootstrap": true, "peers": peers, "card_key_file": key,
			"acquirer": map[string]any{"addr": acqAddr, "timeout": "5s"},
			// The whole simulated fleet connects from one loopback address.
			"max_conns_per_ip": -1,
		}
		if tune != nil {
			tune(cfg)
		}
		b, _ := json.Marshal(cfg)
		if err := os.WriteFile(filepath.Join(p.dir, id+".json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.procs = make([]*exec.Cmd, len(p.ids))
	for i := range p.ids {
		p.start(i)
	}
	t.Cleanup(p.stopAll)
	p.registerTerminals(procTerminals...)
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range append([]string{"acqsim"}, p.ids...) {
				b, _ := os.ReadFile(filepath.Join(p.dir, id+".log"))
				t.Logf("--- %s.log (tail)\n%s", id, tail(string(b), 1500))
				if dir := os.Getenv("SYSTEMTEST_KEEP_LOGS"); dir != "" {
					// The whole logs, for a failure that needs more than the tails.
					_ = os.MkdirAll(dir, 0o755)
					_ = os.WriteFile(filepath.Join(dir, id+".log"), b, 0o644)
				}
			}
		}
	})
	return p
}

func (p *procCluster) spawn(logName, bin string, args ...string) *exec.Cmd {
	p.t.Helper()
	logf, err := os.OpenFile(filepath.Join(p.dir, logName), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() { cmd.Wait(); logf.Close() }()
	return cmd
}

func (p *procCluster) start(i int) {
	for j := range p.faults {
		if f := &p.faults[j]; strings.HasSuffix(f.Kind, "kill") && f.Target == p.ids[i] && f.End.IsZero() {
			f.End = time.Now()
		}
	}
	p.procs[i] = p.spawn(p.ids[i]+".log", filepath.Join(p.bin, "tillgate"), "serve",
		"--config", filepath.Join(p.dir, p.ids[i]+".json"), "--log-level", p.logLevel)
}

func (p *procCluster) kill(i int) {
	p.t.Helper()
	p.injected("kill", p.ids[i])
	if err := p.procs[i].Process.Kill(); err != nil {
		p.t.Fatalf("kill %s: %v", p.ids[i], err)
	}
	for p.procs[i].ProcessState == nil {
		time.Sleep(10 * time.Millisecond)
	}
	p.procs[i] = nil
}

// stopAll ends every process with SIGTERM (a clean stop), so that the state
// files can be opened afterwards.
func (p *procCluster) stopAll() {
	for i, c := range p.procs {
		if c != nil {
			c.Process.Signal(syscall.SIGCONT)
			c.Process.Signal(syscall.SIGTERM)
			waitExit(c)
			p.procs[i] = nil
		}
	}
	if p.acq != nil {
		p.acq.Process.Signal(syscall.SIGTERM)
		waitExit(p.acq)
		p.acq = nil
	}
}

func waitExit(c *exec.Cmd) {
	deadline := time.Now().Add(20 * time.Second)
	for c.ProcessState == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c.ProcessState == nil {
		c.Process.Kill()
		for c.ProcessState == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// procTerminals are the terminals of the process tests' fleets: the
// failover fleets (F, base 0) and the repeat storms (stormRepeats).
var procTerminals = []adminapi.TerminalRange{
	{From: "F0000000", To: "F0000999", Merchant: failoverMerchant, Store: "systemtest"},
	{From: terminalOf(stormBase), To: terminalOf(stormBase + 99), Merchant: regsim.Merchant, Store: "systemtest"},
}

func terminalOf(n int) string { return fmt.Sprintf("T%07d", n) }

// registerTerminals registers ranges at the active and waits until every
// running node has them: a node refuses the terminals it does not know.
func (p *procCluster) registerTerminals(ranges ...adminapi.TerminalRange) {
	p.t.Helper()
	l := p.leader(60 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := adminapi.NewClient(p.admin[l]).AddTerminals(ctx, ranges...); err != nil {
		p.t.Fatalf("register terminals: %v", err)
	}
	for i, c := range p.procs {
		for c != nil {
			if _, err := adminapi.NewClient(p.admin[i]).Terminal(ctx, ranges[len(ranges)-1].From); err == nil {
				break
			} else if ctx.Err() != nil {
				p.t.Fatalf("%s has not applied the terminals: %v", p.ids[i], err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// leader asks every running node who leads and returns its index once a
// running node says it is the serving active.
func (p *procCluster) leader(timeout time.Duration) int {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, c := range p.procs {
			if c == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := adminapi.NewClient(p.admin[i]).Status(ctx)
			cancel()
			if err == nil && st.Serving {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatal("no serving active")
	return -1
}

// TestProcessFailover: 500 registers on the failover client under continuous
// load while the active is SIGKILLed three times in a row (each new active
// too), killed nodes are restarted, the active is SIGSTOPped for 5 s, all
// nodes are killed at once and restarted, and repeat storms hit every node
// during each failover (FAULTS.md scenarios 1, 3, 4, 8, 14). One more register knows only a standby's address. Then the
// invariants I1-I5 are checked on the nodes' files and acqsim's ledger.
func TestProcessFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process failover test")
	}
	p := startProcCluster(t)
	first := p.leader(60 * time.Second)
	standby := p.reg[(first+1)%3]

	fleet := newFailoverFleet(t, t.TempDir(), 501, 0, func(i int) []string {
		if i == 500 {
			return []string{standby}
		}
		return []string{p.reg[i%3], p.reg[(i+1)%3], p.reg[(i+2)%3]}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { fleet.run(ctx, 0, 100*time.Millisecond); close(done) }()

	waitFor(t, "load", func() bool { return fleet.approved.Load() > 1000 })
	var kills []killRecord
	var stormResults []regsim.Result
	for k := range 3 {
		l := p.leader(60 * time.Second)
		storm := stormRepeats(p.reg, fleet.hist, stormBase+20*k)
		k := killRecord{node: p.ids[l], at: time.Now()}
		t.Logf("SIGKILL %s (the active)", p.ids[l])
		p.kill(l)
		kills = append(kills, k)
		p.leader(60 * time.Second)
		stormResults = append(stormResults, storm()...)
		before := fleet.approved.Load()
		waitFor(t, "approvals after the failover", func() bool { return fleet.approved.Load() > before+500 })
		t.Logf("restart %s", k.node)
		p.start(slices.Index(p.ids, k.node)) // back as a follower
	}
	l := p.leader(60 * time.Second)
	t.Logf("SIGSTOP %s (the active) for 5 s", p.ids[l])
	resumed := p.injected("pause", p.ids[l])
	p.procs[l].Process.Signal(syscall.SIGSTOP)
	time.Sleep(5 * time.Second) // the fault itself: a pause of 5 s
	p.procs[l].Process.Signal(syscall.SIGCONT)
	resumed()
	before := fleet.approved.Load()
	waitFor(t, "approvals after SIGSTOP", func() bool { return fleet.approved.Load() > before+500 })

	t.Log("SIGKILL every node at once, then restart them all")
	for i := range p.procs {
		p.kill(i)
	}
	for i := range p.procs {
		p.start(i)
	}
	p.leader(60 * time.Second)
	before = fleet.approved.Load()
	waitFor(t, "approvals after the whole cluster restarted", func() bool { return fleet.approved.Load() > before+500 })

	cancel()
	<-done
	fleet.drain(t)

	results := fleet.results
	for _, r := range stormResults {
		results = append(results, regResult{Key: r.Key, RC: r.RC, AuthCode: r.AuthCode, Amount: r.Amount, RepeatMismatch: r.RepeatMismatch})
	}
	checkProcessInvariants(t, p, fleet, results)
	var standbyOnly int
	for _, r := range fleet.results {
		if r.RC == wire.RCApproved && r.Key[:8] == "F0000500" && r.Done.After(kills[0].at) {
			standbyOnly++
		}
	}
	if standbyOnly == 0 {
		t.Error("the register that knows only a standby's address got no approval after the first failover")
	}
	unknown, reversed := fleet.stats()
	t.Logf("failover client: %d outcomes unknown, %d reversals acknowledged", unknown, reversed)
	reportFailoverTimes(t, fleet.results, kills)
}

type killRecord struct {
	node string
	at   time.Time
}

// stormRepeats starts a burst of repeats of one identity at every node while
// the failover happens; the returned func waits for it. Each storm has
// terminals of its own from base (20 of procTerminals' storm range). Every answer must be
// the same. The storm's registers record into hist.
func stormRepeats(addrs []string, hist *history.Log, base int) func() []regsim.Result {
	done := make(chan []regsim.Result, 1)
	go func() {
		cfg := regsim.DefaultConfig()
		cfg.History = hist
		cfg.Addrs, cfg.Registers, cfg.PerRegister = addrs, 20, 3
		cfg.TerminalBase, cfg.RepeatRatio, cfg.ThinkTime = base, 1, 0
		cfg.AttemptTimeout = 3 * time.Second
		done <- regsim.New(cfg).Run(context.Background())
	}()
	return func() []regsim.Result { return <-done }
}

func checkProcessInvariants(t *testing.T, p *procCluster, fleet *failoverFleet, results []regResult) {
	t.Helper()
	checkProcessInvariantsMin(t, p, fleet, results, 2000)
}

// checkProcessInvariantsMin judges the run with the checker while every
// node and acqsim still run: the fleet's history (and that of any regsim
// registers that recorded into it) against every node's admin API and
// acqsim's ledger, after quiescence. It also checks what the registers
// noticed themselves (a repeat with another answer) and that the load
// got at least minApproved approvals.
func checkProcessInvariantsMin(t *testing.T, p *procCluster, fleet *failoverFleet, results []regResult, minApproved int) {
	t.Helper()
	approved, unknown := 0, 0
	for _, r := range results {
		if r.RepeatMismatch {
			t.Errorf("I2: %s: a repeat got a different answer", r.Key)
		}
		if r.Unknown {
			unknown++
		}
		if r.RC == wire.RCApproved {
			approved++
		}
	}
	judge(t, adminClients(p.admin), judged{history: fleet.hist, queues: fleet.queued(t), acqsimAdmin: p.acqAdmin, faults: p.faults})
	t.Logf("%d transactions, %d approved, %d with an unknown outcome (auto-reversed)", len(results), approved, unknown)
	if approved < minApproved {
		t.Errorf("only %d approvals under load", approved)
	}
}

// reportFailoverTimes logs, per kill, the time from SIGKILL of the active to
// each register's first answer from another node: p50 and p99 over
// registers.
func reportFailoverTimes(t *testing.T, results []regResult, kills []killRecord) {
	for _, k := range kills {
		first := map[string]time.Time{}
		for _, r := range results {
			if r.RC == "" || r.Done.Before(k.at) || r.Node == k.node {
				continue
			}
			term := r.Key[:8]
			if f, ok := first[term]; !ok || r.Done.Before(f) {
				first[term] = r.Done
			}
		}
		var d []time.Duration
		for _, f := range first {
			d = append(d, f.Sub(k.at))
		}
		t.Logf("SIGKILL %s: %d registers resumed; first answer from the new active p50 %v p99 %v",
			k.node, len(d), percentile(d, 0.5).Round(time.Millisecond), percentile(d, 0.99).Round(time.Millisecond))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
