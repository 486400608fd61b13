package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/internal/faultnet"
	"github.com/tillgate/tillgate/loadtest"
)

// LocalOptions describe `tillbench local`: a cluster of its own, as real
// processes in a temp dir, under the load of Load.
type LocalOptions struct {
	// Load is the scenario; its addresses are filled in.
	Load Options
	// Nodes is the number of tillgate processes: 3 (default), or 1 for a
	// single node without replication.
	Nodes int
	// TillgateBin and AcqsimBin are the binaries to run. Empty: the ones
	// beside this executable if both are there, else built with `go
	// build` from ModuleDir (default: the tillgate module that holds the
	// working directory).
	TillgateBin, AcqsimBin string
	ModuleDir              string
	// Dir holds the nodes' data, configs and logs. Empty: a temp dir,
	// removed after a PASS unless KeepDir.
	Dir     string
	KeepDir bool
	// AcqsimLatency is acqsim's --latency (default "0-5ms").
	AcqsimLatency string
	// KillActiveEvery, if set, SIGKILLs the active's process every so
	// often and restarts it RestartAfter later (default 2 s).
	KillActiveEvery time.Duration
	RestartAfter    time.Duration
	// MaxKills, if > 0, stops the kills after that many.
	MaxKills int
	// PauseActive, if set, SIGSTOPs the active once, mid-run, for that
	// long, then SIGCONTs it.
	PauseActive time.Duration
	// PartitionActive, if set, cuts the active's Raft traffic both ways
	// once, mid-run, for that long (its register port stays reachable:
	// registers reach every node), then heals. It needs faultnet (root and
	// iptables: faultnet.Available says why not), and the nodes then run
	// as users of their own.
	PartitionActive time.Duration
	// Chaos names a scenario of the fault suite (ChaosScenarios) to run
	// beside the load instead of the faults above; the load then lasts
	// until the scenario is over and 2 s more (Load.Duration, default 10
	// minutes, bounds it). ChaosHold and ChaosFlapping override its
	// timings (DefaultChaosHold, DefaultChaosFlapping).
	Chaos                    string
	ChaosHold, ChaosFlapping time.Duration
	// RaftTimeout, if set, is the nodes' Raft heartbeat and election
	// timeout (the node default is 500 ms; a starved 2-core machine can
	// look like a dead leader at that).
	RaftTimeout time.Duration
	// ReadyTimeout bounds the start of the cluster (default 60 s).
	ReadyTimeout time.Duration
	// NodeLogLevel is the nodes' --log-level (default warn).
	NodeLogLevel string
	// TLS runs every link over TLS, with a CA and certificates made for
	// the run in Dir/tls: the registers (a register certificate
	// required), Raft (mutual), the nodes' links to acqsim (a client
	// certificate required) and the admin APIs (HTTPS).
	TLS bool

	// scenario is Chaos's; netFaults says that a fault needs faultnet;
	// asUsers that the nodes run as users of their own (whenever faultnet
	// is available); needs what the nodes' directories must offer.
	scenario  *ChaosScenario
	netFaults bool
	asUsers   bool
	needs     nodeNeeds
}

// nodeNeeds is what a scenario needs of the nodes' directories.
type nodeNeeds struct {
	disk       string // a tmpfs of this size as each data dir
	failpoints bool   // a failpoint dir per node
}

// LocalJSON is what the report records of a local run.
type LocalJSON struct {
	Nodes           int           `json:"nodes"`
	AcqsimLatency   string        `json:"acqsim_latency"`
	KillActiveEvery time.Duration `json:"kill_active_every_ns,omitempty"`
	RestartAfter    time.Duration `json:"restart_after_ns,omitempty"`
	PauseActive     time.Duration `json:"pause_active_ns,omitempty"`
	PartitionActive time.Duration `json:"partition_active_ns,omitempty"`
	Chaos           string        `json:"chaos,omitempty"`
	RaftTimeout     time.Duration `json:"raft_timeout_ns,omitempty"`
	// AsUsers: each node ran as a user of its own (faultnet).
	AsUsers bool `json:"as_users,omitempty"`
	// TLS: registers over TLS and Raft over mutual TLS.
	TLS bool   `json:"tls,omitempty"`
	Dir string `json:"dir"`
}

// noFaultTail: no fault starts in the last part of the load phase (this,
// or a quarter of a shorter one), so that the registers have time to
// resume before the load stops.
const noFaultTail = 5 * time.Second

// RunLocal starts acqsim and the nodes, waits for an active, runs the
// load (with the faults) through the same path as RunAgainst, checks the
// invariants and stops everything.
func RunLocal(ctx context.Context, lo LocalOptions) (*Result, error) {
	if err := lo.defaults(); err != nil {
		return nil, err
	}
	var fe *faultEnv
	if lo.netFaults {
		var err error
		if fe, err = openFaults(ctx); err != nil {
			return nil, err
		}
		// After stopAll below (deferred calls run last): every rule goes,
		// whichever way the run ends.
		defer fe.Close()
	}
	if err := lo.prepare(ctx); err != nil {
		return nil, err
	}
	p, err := startProcCluster(ctx, &lo)
	if err != nil {
		return nil, fmt.Errorf("bench: start the local cluster: %w", err)
	}
	lo.Load.RegisterAddrs, lo.Load.AdminAddrs, lo.Load.AcqsimAdmin = p.reg, p.adm, p.acqAdm
	if p.certs != nil {
		f := p.certs
		lo.Load.AdminCACert = f.CA
		if lo.Load.TLS, err = (failover.TLSFiles{CAFile: f.CA, CertFile: f.Register.Cert, KeyFile: f.Register.Key}).Load(); err != nil {
			p.stopAll()
			return nil, fmt.Errorf("bench: the registers' TLS: %w", err)
		}
	}
	if err := lo.Load.defaults(); err != nil {
		p.stopAll()
		return nil, err
	}
	lo.progressf("cluster of %d node(s) and acqsim up in %s: registers %v%s", lo.Nodes, lo.Dir, p.reg, map[bool]string{true: "; every link over TLS (registers, Raft, acqsim, admin)"}[lo.TLS])
	// The harness itself too: its registers share the machine's CPUs.
	pids := func() map[string]int { m := p.pids(); m["tillbench"] = os.Getpid(); return m }
	h := hooks{resources: procSource{pids: pids}, faults: lo.faults(p, fe), local: lo.json(), atRest: p.atRest()}
	if lo.scenario != nil {
		h.endWithFaults = chaosTail
	}
	res, err := lo.Load.run(ctx, h)
	p.stopAll()
	lo.cleanup(res, err)
	return res, err
}

func (lo *LocalOptions) defaults() error {
	if lo.Nodes == 0 {
		lo.Nodes = 3
	}
	if lo.Nodes < 1 {
		return errors.New("bench: Nodes must be at least 1")
	}
	if lo.AcqsimLatency == "" {
		lo.AcqsimLatency = "0-5ms"
	}
	if lo.RestartAfter <= 0 {
		lo.RestartAfter = 2 * time.Second
	}
	if lo.ReadyTimeout <= 0 {
		lo.ReadyTimeout = time.Minute
	}
	if lo.Load.Progress != nil {
		lo.Load.Progress = &syncWriter{w: lo.Load.Progress}
	}
	if lo.Load.Logger == nil {
		lo.Load.Logger = slog.New(slog.DiscardHandler)
	}
	if err := lo.chaosDefaults(); err != nil {
		return err
	}
	return lo.userDefaults()
}

// chaosDefaults looks the scenario up and sets its load's defaults: 200
// registers, closed loop with 100 ms of think time (busy registers, so that
// the time to resume is the cluster's, not a register's idleness), bounded
// by 10 minutes.
func (lo *LocalOptions) chaosDefaults() error {
	if lo.Chaos == "" {
		return nil
	}
	s, err := chaosScenario(lo.Chaos)
	if err != nil {
		return err
	}
	lo.scenario, lo.needs = &s, nodeNeeds{disk: s.disk, failpoints: s.failpoints}
	if lo.Load.Duration == 0 && lo.Load.Transactions == 0 {
		lo.Load.Duration = 10 * time.Minute
	}
	if lo.Load.Registers == 0 {
		lo.Load.Registers = 200
	}
	if lo.Load.Rate == 0 && lo.Load.Think == 0 {
		lo.Load.Think = 100 * time.Millisecond
	}
	return nil
}

// userDefaults: the nodes run as users of their own whenever faultnet is
// available; a fault on the network cannot do without.
func (lo *LocalOptions) userDefaults() error {
	lo.netFaults = lo.PartitionActive > 0 || lo.scenario != nil
	if lo.netFaults && lo.Nodes < 3 {
		return errors.New("bench: network faults need 3 nodes")
	}
	err := faultnet.Available()
	if err != nil && lo.netFaults {
		return fmt.Errorf("bench: the faults asked for cannot be injected here: %w", err)
	}
	lo.asUsers = err == nil
	return nil
}

// prepare makes the directory and finds or builds the binaries.
func (lo *LocalOptions) prepare(ctx context.Context) error {
	if lo.Dir == "" {
		d, err := os.MkdirTemp("", "tillbench-local-")
		if err != nil {
			return fmt.Errorf("bench: work dir: %w", err)
		}
		lo.Dir = d
	} else if err := os.MkdirAll(lo.Dir, 0o755); err != nil {
		return fmt.Errorf("bench: work dir: %w", err)
	}
	if lo.TillgateBin != "" && lo.AcqsimBin != "" {
		return nil
	}
	if exe, err := os.Executable(); err == nil {
		t, a := filepath.Join(filepath.Dir(exe), "tillgate"), filepath.Join(filepath.Dir(exe), "acqsim")
		if isFile(t) && isFile(a) {
			lo.TillgateBin, lo.AcqsimBin = pick(lo.TillgateBin, t), pick(lo.AcqsimBin, a)
			return nil
		}
	}
	return lo.build(ctx)
}

// build runs `go build` of cmd/tillgate and cmd/acqsim into Dir/bin.
func (lo *LocalOptions) build(ctx context.Context) error {
	mod := lo.ModuleDir
	if mod == "" {
		var err error
		if mod, err = findModule(); err != nil {
			return err
		}
	}
	bin := filepath.Join(lo.Dir, "bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+string(filepath.Separator), "./cmd/tillgate", "./cmd/acqsim")
	cmd.Dir = mod
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: go build in %s: %w\n%s", mod, err, out)
	}
	lo.TillgateBin = pick(lo.TillgateBin, filepath.Join(bin, "tillgate"))
	lo.AcqsimBin = pick(lo.AcqsimBin, filepath.Join(bin, "acqsim"))
	return nil
}

// findModule walks up from the working directory to tillgate's go.mod.
func findModule() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("bench: find the module: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/tillgate/tillgate\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: not inside the tillgate module: give --tillgate-bin and --acqsim-bin, or run from the module")
		}
		dir = parent
	}
}

func isFile(p string) bool { st, err := os.Stat(p); return err == nil && st.Mode().IsRegular() }

func pick(set, dflt string) string {
	if set != "" {
		return set
	}
	return dflt
}

func (lo *LocalOptions) json() *LocalJSON {
	j := &LocalJSON{Nodes: lo.Nodes, AcqsimLatency: lo.AcqsimLatency, KillActiveEvery: lo.KillActiveEvery,
		PauseActive: lo.PauseActive, PartitionActive: lo.PartitionActive, Chaos: lo.Chaos, RaftTimeout: lo.RaftTimeout,
		AsUsers: lo.asUsers, TLS: lo.TLS, Dir: lo.Dir}
	if lo.KillActiveEvery > 0 {
		j.RestartAfter = lo.RestartAfter
	}
	return j
}

// cleanup removes a temp dir after a PASS; otherwise it says where it is.
func (lo *LocalOptions) cleanup(res *Result, err error) {
	if lo.KeepDir || err != nil || res == nil || !res.Pass {
		lo.progressf("data, configs and logs kept in %s", lo.Dir)
		return
	}
	os.RemoveAll(lo.Dir)
}

func (lo *LocalOptions) progressf(format string, args ...any) {
	lo.Load.Logger.Info(fmt.Sprintf(format, args...))
	if lo.Load.Progress != nil {
		fmt.Fprintf(lo.Load.Progress, format+"\n", args...)
	}
}

// faults returns the fault injector of the options, nil for none.
func (lo *LocalOptions) faults(p *procCluster, fe *faultEnv) func(context.Context, *loadtest.Fleet, *faultLog) {
	if lo.scenario != nil {
		return lo.chaosFaults(p, fe)
	}
	if lo.KillActiveEvery <= 0 && lo.PauseActive <= 0 && lo.PartitionActive <= 0 {
		return nil
	}
	return func(ctx context.Context, fleet *loadtest.Fleet, log *faultLog) {
		start := time.Now()
		last := start.Add(lo.Load.Duration - min(noFaultTail, lo.Load.Duration/4)) // no new fault after this
		var one sync.Mutex                                                         // one fault at a time
		var wg sync.WaitGroup
		if lo.KillActiveEvery > 0 {
			wg.Go(func() {
				// Kill n at n × KillActiveEvery from the start (later if the
				// previous fault is still going on).
				for n := 1; lo.MaxKills <= 0 || n <= lo.MaxKills; n++ {
					if !sleepCtx(ctx, time.Until(start.Add(time.Duration(n)*lo.KillActiveEvery))) || time.Now().After(last) {
						return
					}
					one.Lock()
					lo.killActive(ctx, p, fleet, log)
					one.Unlock()
				}
			})
		}
		if lo.PauseActive > 0 {
			wg.Go(func() {
				if sleepCtx(ctx, lo.Load.Duration/2) && time.Now().Before(last) {
					one.Lock()
					lo.pauseActive(ctx, p, fleet, log)
					one.Unlock()
				}
			})
		}
		if lo.PartitionActive > 0 {
			wg.Go(func() {
				if sleepCtx(ctx, lo.Load.Duration/2) && time.Now().Before(last) {
					one.Lock()
					lo.partitionActive(ctx, lo.newChaos(p, fe, fleet, log))
					one.Unlock()
				}
			})
		}
		wg.Wait()
	}
}

// newChaos is the fault handle of a run.
func (lo *LocalOptions) newChaos(p *procCluster, fe *faultEnv, fleet *loadtest.Fleet, log *faultLog) *chaos {
	return &chaos{lo: lo, p: p, net: fe.net, fleet: fleet, log: log, rnd: rand.New(rand.NewPCG(lo.Load.Seed, 0xc4a05))}
}

// chaosFaults runs the scenario; what stops it is a failed check.
func (lo *LocalOptions) chaosFaults(p *procCluster, fe *faultEnv) func(context.Context, *loadtest.Fleet, *faultLog) {
	return func(ctx context.Context, fleet *loadtest.Fleet, log *faultLog) {
		lo.progressf("chaos: %s: %s", lo.scenario.Name, lo.scenario.Doc)
		if err := lo.scenario.run(ctx, lo.newChaos(p, fe, fleet, log)); err != nil {
			log.fail(fmt.Errorf("chaos %s: %w", lo.scenario.Name, err))
			lo.progressf("chaos: %v", err)
		}
	}
}

// partitionActive cuts the active's Raft traffic both ways for
// PartitionActive, then heals (always, even if ctx ends first).
func (lo *LocalOptions) partitionActive(ctx context.Context, c *chaos) {
	a, err := lo.findActive(ctx, c.p)
	if err != nil {
		return
	}
	f, err := c.cut(faultPartition, a, resumeRule{Silent: a}, append(c.p.cuts().raftOut(a), c.p.cuts().raftIn(a)...))
	if err != nil {
		lo.progressf("fault: %v", err)
		c.log.fail(err)
		return
	}
	sleepCtx(ctx, lo.PartitionActive)
	if err := f.over(); err != nil {
		lo.progressf("fault: heal: %v", err)
		c.log.fail(err)
		return
	}
	lo.progressf("fault: healed")
}

// killActive SIGKILLs the active and restarts it RestartAfter later (at
// once if ctx ends first).
func (lo *LocalOptions) killActive(ctx context.Context, p *procCluster, fleet *loadtest.Fleet, log *faultLog) {
	id, err := lo.findActive(ctx, p)
	if err != nil {
		return
	}
	rec := fleet.Recorder()
	at := time.Now()
	fid := rec.FaultStart("kill", id)
	lo.progressf("fault: SIGKILL %s (the active)", id)
	if err := p.kill(id); err != nil {
		lo.progressf("fault: %v", err)
		return
	}
	end := log.injected("kill", id, at)
	sleepCtx(ctx, lo.RestartAfter)
	if err := p.start(id); err != nil {
		lo.progressf("fault: restart %s: %v", id, err)
		return
	}
	rec.FaultBack(fid)
	end()
	lo.progressf("fault: %s restarted", id)
}

// pauseActive SIGSTOPs the active for PauseActive, then SIGCONTs it
// (always, even if ctx ends first).
func (lo *LocalOptions) pauseActive(ctx context.Context, p *procCluster, fleet *loadtest.Fleet, log *faultLog) {
	id, err := lo.findActive(ctx, p)
	if err != nil {
		return
	}
	rec := fleet.Recorder()
	at := time.Now()
	fid := rec.FaultStart("pause", id)
	lo.progressf("fault: SIGSTOP %s (the active) for %s", id, lo.PauseActive)
	if err := p.signal(id, syscall.SIGSTOP); err != nil {
		lo.progressf("fault: %v", err)
		return
	}
	end := log.injected("pause", id, at)
	sleepCtx(ctx, lo.PauseActive)
	if err := p.signal(id, syscall.SIGCONT); err != nil {
		lo.progressf("fault: %v", err)
		return
	}
	rec.FaultBack(fid)
	end()
	lo.progressf("fault: SIGCONT %s", id)
}

func (lo *LocalOptions) findActive(ctx context.Context, p *procCluster) (string, error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := p.waitLeader(c)
	if err != nil {
		lo.progressf("fault skipped: %v", err)
	}
	return id, err
}

// sleepCtx sleeps d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// syncWriter serializes the progress line and the fault lines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
