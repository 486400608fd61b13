package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/loadtest"
	"github.com/tillgate/tillgate/node/adminapi"
)

// Options describe a run against an existing cluster (RunAgainst) or the
// load of a local run (LocalOptions.Load).
type Options struct {
	RegisterAddrs []string // the nodes' register listeners
	AdminAddrs    []string // the nodes' admin APIs, to check invariants
	AdminToken    string   // bearer token of the admin APIs, if any
	// AdminCACert, if set, is the CA (PEM file) of the admin APIs' HTTPS
	// certificates: addresses without a scheme are then https.
	AdminCACert string
	adminTLS    *tls.Config // AdminCACert's, read by defaults
	// AcqsimAdmin is acqsim's admin HTTP address (host:port): the checker
	// reads its ledger (GET /ledger) and its strict counters (GET /stats).
	// acqsim should run --strict, as strict as a real host (94 for a
	// duplicate, 25 for an unknown original, host echoes). Empty skips
	// every rule on the acquirer's side, and the report says so.
	AcqsimAdmin string

	// Scenario names the load (Scenarios); it fills in whichever of the
	// fields below are zero. Empty: closed, or open if Rate is set.
	Scenario     string
	Registers    int
	Duration     time.Duration
	Rate         float64       // > 0: open loop at Rate tx/s (the peak rate with a Profile)
	Think        time.Duration // closed loop think time
	Transactions int64         // > 0: stop once this many started or arrived
	Profile      loadtest.Profile
	Mix          loadtest.Mix
	TerminalBase int
	Seed         uint64
	// RegisterDeadline overrides the registers' failover Deadline when
	// set (see loadtest.Config).
	RegisterDeadline time.Duration
	// TLS, if set, is the registers' TLS (failover Config.TLS): for nodes
	// whose register ports speak TLS. nil: plain TCP.
	TLS *tls.Config

	// OutDir receives summary.txt, report.json, report.html and
	// history.jsonl (every request and queued entry of every register:
	// what the checker judged); empty writes none.
	OutDir string
	// QueueDir holds the registers' reversal queues; empty: a temp dir.
	QueueDir string
	// Progress receives the live line every second and the summary; nil:
	// none.
	Progress io.Writer
	// SettleTimeout bounds draining the reversal queues, closing the
	// registers' batches and waiting for the nodes to converge (default
	// 60 s each).
	SettleTimeout time.Duration
	// NoBatchClose skips closing the registers' batches (0500) after the
	// load: for clusters that do not reconcile yet.
	NoBatchClose bool
	// NoDayClose skips the business day's close after the checks: the
	// cutover, the settlement file from every node, and the reconciliation
	// with acqsim's export.
	NoDayClose bool
	// Hostile opens this many hostile connections beside the load, spread
	// over the register addresses: idle, half-frame and garbage (plain
	// TCP), each reconnecting when closed. 0: none.
	Hostile int
	// Logger receives what the harness does (faults, processes); nil:
	// discarded.
	Logger *slog.Logger
	// LoadProcs, if > 0, is this process's GOMAXPROCS during the load
	// phase (restored after it, for the checks). tillbench local sets 1:
	// on a box it shares with the cluster, a second P spent its CPU
	// spinning and handing the registers' wake-ups between threads
	// (measured -12% of tillbench's CPU per transaction at 1,000 tx/s).
	LoadProcs int
}

// Check is one invariant checked at the end.
type Check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Skip   bool   `json:"skip,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Result is a finished run.
type Result struct {
	Options   OptionsJSON          `json:"options"`
	Summary   loadtest.Summary     `json:"summary"`
	Client    loadtest.ClientStats `json:"client"`
	Resources []NodeResources      `json:"resources"`
	Hostile   *Hostile             `json:"hostile,omitempty"`
	Checks    []Check              `json:"checks"`
	// Batches is how the registers' batches closed after the load; nil
	// with NoBatchClose.
	Batches *loadtest.BatchSummary `json:"batches,omitempty"`
	// Days is how the business day closed, per acquirer; nil with
	// NoDayClose.
	Days []DayClose `json:"days,omitempty"`
	// RaftTerms are the highest Raft term before and after the run: a
	// change means leadership moved (a fault, or an election under load).
	RaftTerms [2]uint64 `json:"raft_terms"`
	// Leaders are the new terms seen during the load, polling /status
	// twice a second.
	Leaders []LeaderChange `json:"leaders,omitempty"`
	// Injected are the faults the harness injected, with their times.
	Injected []check.Fault `json:"faults_injected,omitempty"`
	// Resume is, per fault injected, how the registers came back (from
	// their history) and the elections it took (resume.go).
	Resume []Resume `json:"resume,omitempty"`
	// Verdict is the per-identity checker's judgement (package check).
	Verdict *Verdict `json:"verdict,omitempty"`
	// Acqsim are acqsim's strict counters at the end.
	Acqsim   *AcqsimStats `json:"acqsim,omitempty"`
	Pass     bool         `json:"pass"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
}

// OptionsJSON is what the report records of the options.
type OptionsJSON struct {
	Scenario     string        `json:"scenario"`
	Registers    int           `json:"registers"`
	Duration     time.Duration `json:"duration_ns"`
	Rate         float64       `json:"rate,omitempty"`
	Think        time.Duration `json:"think_ns,omitempty"`
	Transactions int64         `json:"transactions,omitempty"`
	Profile      string        `json:"profile,omitempty"`
	Mix          string        `json:"mix"`
	Nodes        []string      `json:"register_addrs"`
	// TLS: the registers spoke TLS to the nodes.
	TLS bool `json:"tls,omitempty"`
	// Local runs only.
	Local *LocalJSON `json:"local,omitempty"`
}

// hooks are what a local run adds to the common path.
type hooks struct {
	resources resourceSource
	// faults runs during the load phase and returns when ctx ends, with
	// every node it took down back up; it records what it injected.
	faults func(ctx context.Context, fleet *loadtest.Fleet, log *faultLog)
	// endWithFaults, if set, ends the load this long after faults
	// returns (a scenario that runs its course), before Duration if need
	// be.
	endWithFaults time.Duration
	local         *LocalJSON
	// atRest are the cluster's files to scan for card data (I8): only a
	// cluster of our own.
	atRest []string
}

// RunAgainst drives the scenario against the cluster, checks the
// invariants, prints PASS or FAIL to Progress and writes the reports. The
// error is for a run that could not happen; a failed check is Result.Pass
// false. CPU and memory per node come from each node's /metrics.
func RunAgainst(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	return o.run(ctx, hooks{resources: newMetricsSource(o.adminClients())})
}

// run is the path RunAgainst and RunLocal share.
func (o *Options) run(ctx context.Context, h hooks) (*Result, error) {
	qdir, cleanup, err := o.queueDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	chk := newChecker(*o)
	// Before the check's baseline, which waits for every node to apply
	// what the cluster holds: a standby refuses terminals it does not know.
	regCtx, cancel := context.WithTimeout(ctx, o.SettleTimeout)
	err = o.fleetConfig(qdir, nil).RegisterTerminals(regCtx, chk.nodes)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := chk.begin(ctx); err != nil {
		return nil, err
	}
	hist, err := o.openHistory()
	if err != nil {
		return nil, err
	}
	fleet, err := loadtest.Open(o.fleetConfig(qdir, hist))
	if err != nil {
		hist.Close()
		return nil, fmt.Errorf("bench: open the registers: %w", err)
	}
	// The registers connect before the load phase: its CPU and latency
	// are the transactions', not the connections'.
	connCtx, cancel := context.WithTimeout(ctx, o.SettleTimeout)
	if err := fleet.Connect(connCtx); err != nil {
		o.Logger.Warn("bench: not every register connected before the load", "err", err)
	}
	cancel()
	res := &Result{Options: o.json(), Started: time.Now()}
	res.Options.Local = h.local
	faults := &faultLog{}
	span := o.load(ctx, res, fleet, chk, h, faults)
	res.Checks = append(res.Checks, o.settleRegisters(ctx, res, fleet, hist)...)
	res.Injected = faults.list()
	if err := faults.err(); err != nil {
		res.Checks = append(res.Checks, Check{Name: "faults injected and undone as planned", Detail: err.Error()})
	}
	if len(res.Injected) > 0 {
		res.Resume = resumes(resumeInput{start: span[0], end: span[1], events: hist.Events(), faults: res.Injected,
			rules: faults.resumeRules(), leaders: readLeaders(ctx, chk.nodes)})
	}
	res.Checks = append(res.Checks, batchCheck(res.Batches, len(res.Injected) > 0))
	res.Verdict = chk.verify(ctx, verifyInput{History: hist.Events(), Faults: res.Injected,
		RegisterQueues: res.Client.QueueDepth, AtRest: h.atRest, Secrets: loadtest.Cards()})
	res.Checks = append(res.Checks, res.Verdict.checks()...)
	var strict Check
	res.Acqsim, strict = chk.strictCheck(ctx, res.Injected)
	res.Checks = append(res.Checks, strict)
	if !o.NoDayClose {
		res.Days = chk.closeDay(ctx)
	}
	res.Checks = append(res.Checks, dayCheck(res.Days, o.NoDayClose, chk.acqsim != ""))
	res.RaftTerms = [2]uint64{chk.term0, chk.maxTerm(ctx)}
	res.Finished = time.Now()
	res.Pass = verdictOf(res.Checks)
	if o.Progress != nil {
		WriteSummary(o.Progress, res)
	}
	return res, o.write(res)
}

// load runs the fleet with the faults beside it, sampling resources and
// leaders, and returns when the load started and ended.
func (o *Options) load(ctx context.Context, res *Result, fleet *loadtest.Fleet, chk *checker, h hooks, faults *faultLog) [2]time.Time {
	smp := startSampling(ctx, h.resources)
	lw := watchLeaders(ctx, chk.nodes, 500*time.Millisecond)
	loadCtx, endLoad := context.WithCancel(ctx)
	defer endLoad()
	stopFaults, faultsDone := startFaults(ctx, h.faults, fleet, faults)
	if h.endWithFaults > 0 {
		go func() {
			select {
			case <-faultsDone:
				sleepCtx(loadCtx, h.endWithFaults)
				endLoad()
			case <-loadCtx.Done():
			}
		}()
	}
	var stopHostile func() *Hostile
	if o.Hostile > 0 {
		stopHostile = startHostile(ctx, o.RegisterAddrs, o.Hostile)
	}
	if o.LoadProcs > 0 {
		prev := runtime.GOMAXPROCS(o.LoadProcs)
		defer runtime.GOMAXPROCS(prev)
	}
	start := time.Now()
	res.Summary = runWithProgress(loadCtx, fleet, o)
	end := time.Now()
	if stopHostile != nil {
		res.Hostile = stopHostile()
	}
	stopFaults()
	res.Leaders = lw.stop()
	res.Resources = smp.stop(res.Summary.Completed)
	return [2]time.Time{start, end}
}

// settleRegisters ends the registers' day once the load has stopped: their
// queues drain, their batches close, then they close. It returns the check
// of the drain and of the history file, and fills in the batches and the
// client counters (QueueDepth: what is left in the queues at the end).
func (o *Options) settleRegisters(ctx context.Context, res *Result, fleet *loadtest.Fleet, hist *history.Log) []Check {
	drained := drain(ctx, fleet, o.SettleTimeout)
	if !o.NoBatchClose {
		bs := closeBatches(ctx, fleet, o.SettleTimeout)
		res.Batches = &bs
	}
	res.Client = fleet.ClientStats()
	left, err := fleet.Queued()
	if err != nil {
		drained.Pass, drained.Detail = false, err.Error()
	}
	res.Client.QueueDepth = left
	checks := []Check{drained}
	if err := errors.Join(fleet.Close(), hist.Close()); err != nil {
		checks = append(checks, Check{Name: "registers closed and their history written", Detail: err.Error()})
	}
	return checks
}

// verdictOf is PASS: every check passed or was skipped on purpose (a flag
// or a missing address, shown as "skip" with the reason).
func verdictOf(checks []Check) bool {
	for _, c := range checks {
		if !c.Pass && !c.Skip {
			return false
		}
	}
	return true
}

// openHistory is the registers' history: history.jsonl in OutDir, or in
// memory only.
func (o *Options) openHistory() (*history.Log, error) {
	if o.OutDir == "" {
		return history.New(), nil
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	l, err := history.Create(filepath.Join(o.OutDir, "history.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return l, nil
}

// startFaults runs fn beside the load; the returned func stops it and
// waits until it has put every node back; done is closed when fn returns.
func startFaults(ctx context.Context, fn func(context.Context, *loadtest.Fleet, *faultLog), fleet *loadtest.Fleet, log *faultLog) (stop func(), done <-chan struct{}) {
	ch := make(chan struct{})
	if fn == nil {
		close(ch)
		return func() {}, ch
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() { defer close(ch); fn(ctx, fleet, log) }()
	return func() { cancel(); <-ch }, ch
}

func (o *Options) defaults() error {
	switch {
	case len(o.RegisterAddrs) == 0:
		return errors.New("bench: no register addresses")
	case len(o.AdminAddrs) == 0:
		return errors.New("bench: no admin addresses: the invariants cannot be checked")
	}
	if o.AdminCACert != "" {
		tc, err := adminapi.TLSConfig(o.AdminCACert)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		o.adminTLS = tc
	}
	if o.Mix == (loadtest.Mix{}) {
		o.Mix = loadtest.DefaultMix()
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o.applyScenario()
}

func (o *Options) queueDir() (string, func(), error) {
	if o.QueueDir != "" {
		if err := os.MkdirAll(o.QueueDir, 0o755); err != nil {
			return "", nil, fmt.Errorf("bench: queue dir: %w", err)
		}
		return o.QueueDir, func() {}, nil
	}
	d, err := os.MkdirTemp("", "tillbench-queues-")
	if err != nil {
		return "", nil, fmt.Errorf("bench: queue dir: %w", err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

func (o *Options) fleetConfig(qdir string, hist *history.Log) loadtest.Config {
	return loadtest.Config{
		Nodes: o.RegisterAddrs, Registers: o.Registers, Dir: qdir, TerminalBase: o.TerminalBase,
		Rate: o.Rate, Think: o.Think, Profile: o.Profile, Duration: o.Duration, Transactions: o.Transactions,
		Mix: o.Mix, Seed: o.Seed, RegisterDeadline: o.RegisterDeadline, TLS: o.TLS, History: hist,
	}
}

func (o *Options) json() OptionsJSON {
	return OptionsJSON{Scenario: o.Scenario, Registers: o.Registers, Duration: o.Duration, Rate: o.Rate,
		Think: o.Think, Transactions: o.Transactions, Profile: o.Profile.Name, Mix: o.Mix.String(), Nodes: o.RegisterAddrs,
		TLS: o.TLS != nil}
}

// runWithProgress runs the fleet, printing a progress line every second.
func runWithProgress(ctx context.Context, f *loadtest.Fleet, o *Options) loadtest.Summary {
	done := make(chan struct{})
	if o.Progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					fmt.Fprintln(o.Progress, progressLine(f.Snapshot(), o.Duration, o.Transactions))
				}
			}
		}()
	}
	s := f.Run(ctx)
	close(done)
	return s
}

// progressLine formats a snapshot with the ETA of the load phase: the
// time left of the duration, or sooner at the current rate when a
// transaction count ends the run first.
func progressLine(s loadtest.Snapshot, total time.Duration, txns int64) string {
	eta := max(total-s.Elapsed, 0)
	if left := txns - s.Completed; txns > 0 && s.TxPerSec > 0 {
		eta = min(eta, time.Duration(float64(max(left, 0))/s.TxPerSec*float64(time.Second)))
	}
	eta += time.Second - 1 // rounded up
	return fmt.Sprintf("%6s  %7.0f tx/s  in flight %5d  p99 %8s  done %9d  errors %d (unknown %d, not sent %d)  eta %s",
		s.Elapsed.Truncate(time.Second), s.TxPerSec, s.InFlight, s.P99.Round(10*time.Microsecond),
		s.Completed, s.Errors, s.Unknown, s.NotSent, eta.Truncate(time.Second))
}

func drain(ctx context.Context, f *loadtest.Fleet, timeout time.Duration) Check {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := Check{Name: "reversal queues drained", Pass: true}
	if err := f.Drain(ctx); err != nil {
		c.Pass, c.Detail = false, err.Error()
	}
	return c
}

// write saves summary.txt, report.json and report.html under OutDir.
func (o *Options) write(res *Result) error {
	if o.OutDir == "" {
		return nil
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return fmt.Errorf("bench: write reports: %w", err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: report.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: report.json: %w", err)
	}
	for name, fn := range map[string]func(io.Writer, *Result) error{
		"summary.txt": func(w io.Writer, r *Result) error { WriteSummary(w, r); return nil },
		"report.html": WriteHTML,
	} {
		if err := writeFile(filepath.Join(o.OutDir, name), res, fn); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, res *Result, fn func(io.Writer, *Result) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := fn(f, res); err != nil {
		f.Close()
		return fmt.Errorf("bench: %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: %s: %w", filepath.Base(path), err)
	}
	return nil
}

// adminClients are clients of the nodes' admin APIs, over HTTPS with
// AdminCACert, with the token.
func (o *Options) adminClients() []*adminapi.Client {
	var out []*adminapi.Client
	for _, a := range o.AdminAddrs {
		c := adminapi.NewClient(a)
		if o.adminTLS != nil {
			c = adminapi.NewTLSClient(a, o.adminTLS)
		}
		c.Token = o.AdminToken
		out = append(out, c)
	}
	return out
}
