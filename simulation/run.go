package simulation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// SeedResult is what one seed's run found.
type SeedResult struct {
	Seed         uint64
	Load         time.Duration
	Elapsed      time.Duration
	Registers    int
	Transactions int // distinct financial identities the registers sent
	Faults       []Injected
	Violations   []Violation
	Batches      batchSummary
	NodeFailures []string // nodes that stopped by their own error
	Artifacts    string   // where the run's files were kept, if anywhere
	Err          error    // the run itself failed (set-up, a node that would not restart)

	start   time.Time // of the load: offsets in the report count from here
	history []history.Event
}

// injectedCount is how many faults took effect.
func (r *SeedResult) injectedCount() int {
	n := 0
	for _, f := range r.Faults {
		if f.injected() {
			n++
		}
	}
	return n
}

// RunSeed runs one seed in a temporary directory it removes, keeping the
// history and node logs under cfg.Artifacts when the seed fails.
func RunSeed(ctx context.Context, cfg Config, seed uint64) (res SeedResult) {
	res = SeedResult{Seed: seed, Load: cfg.Load}
	began := time.Now()
	dir, err := os.MkdirTemp("", fmt.Sprintf("tillgate-sim-%d-", seed))
	if err != nil {
		res.Err = fmt.Errorf("simulation: %w", err)
		return res
	}
	defer os.RemoveAll(dir)
	res.Err = runIn(ctx, cfg, seed, dir, &res)
	res.Elapsed = time.Since(began)
	if len(res.Violations) > 0 || res.Err != nil {
		res.Artifacts, err = keepArtifacts(cfg.Artifacts, dir, &res)
		res.Err = errors.Join(res.Err, err)
	}
	return res
}

// seedRun is one seed in progress.
type seedRun struct {
	cfg  Config
	seed uint64
	dir  string
	log  *slog.Logger
	hist *history.Log
	env  *env
	regs []*register
	res  *SeedResult
}

// runIn is RunSeed inside dir.
func runIn(ctx context.Context, cfg Config, seed uint64, dir string, res *SeedResult) error {
	logFile, err := os.Create(filepath.Join(dir, nodesLog))
	if err != nil {
		return fmt.Errorf("simulation: %w", err)
	}
	defer logFile.Close()
	s := &seedRun{cfg: cfg, seed: seed, dir: dir, res: res,
		log: slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	if s.hist, err = history.Create(filepath.Join(dir, historyFile)); err != nil {
		return err
	}
	if s.env, err = startEnv(ctx, dir, s.log); err != nil {
		s.hist.Close()
		return err
	}
	if err = s.openRegisters(); err == nil {
		err = s.drive(ctx)
	}
	for _, r := range s.regs {
		r.close()
	}
	s.env.close()
	res.NodeFailures = s.env.nodeFailures()
	res.history = s.hist.Events()
	res.Transactions = countTransactions(res.history)
	return errors.Join(err, s.hist.Close())
}

// openRegisters opens the seed's registers; each lists every node, in an
// order of its own, so that some start on a standby and are relayed.
func (s *seedRun) openRegisters() error {
	n := s.cfg.MinRegisters + stream(s.seed, "registers").IntN(s.cfg.MaxRegisters-s.cfg.MinRegisters+1)
	// Before any fault: every node must know the terminals (a standby
	// refuses one it does not).
	all := store.TerminalRange{From: terminalID(0), To: terminalID(n - 1), Merchant: merchantID, Store: "simulation"}
	if err := s.env.cl.RegisterTerminals(time.Minute, all); err != nil {
		return fmt.Errorf("simulation: %w", err)
	}
	addrs := s.env.cl.RegisterAddrs()
	for i := range n {
		nodes := append(append([]string(nil), addrs[i%len(addrs):]...), addrs[:i%len(addrs)]...)
		r, err := newRegister(s.seed, i, s.dir, nodes, s.hist, s.log)
		if err != nil {
			return err
		}
		s.regs = append(s.regs, r)
	}
	s.res.Registers = n
	return nil
}

// drive runs the load under the schedule, heals, closes the batches,
// waits for quiescence and verifies.
func (s *seedRun) drive(ctx context.Context) error {
	in := &injector{env: s.env, regs: map[string]*register{}}
	var tids []string
	for _, r := range s.regs {
		in.regs[r.tid] = r
		tids = append(tids, r.tid)
	}
	plan := only(Schedule(s.seed, s.cfg.Load, tids), s.cfg.Faults)
	in.start = time.Now()
	s.res.start = in.start
	load(ctx, s.cfg.Load, in, plan, s.regs)
	s.res.Faults = in.log.list()
	if err := heal(ctx, s.env, s.regs); err != nil {
		return err
	}
	settle, cancel := context.WithTimeout(ctx, s.cfg.Settle)
	defer cancel()
	s.res.Batches = closeBatches(settle, s.regs)
	if err := waitQuiet(ctx, s.env, s.regs, s.cfg.Settle); err != nil {
		s.res.Violations = append(s.res.Violations, Violation{Invariant: "Q", Detail: err.Error()})
	}
	vs, err := verify(ctx, verifyInput{History: s.hist.Events(), Admins: s.env.admins, Acquirer: s.env.acq,
		Faults: s.res.Faults, RegisterQueues: queued(s.regs)})
	s.res.Violations = append(s.res.Violations, vs...)
	return errors.Join(err, dumpTxns(ctx, s.dir, s.env))
}

// load runs the registers and the fault schedule for d; registers finish
// the step under way, every fault in force is undone.
func load(ctx context.Context, d time.Duration, in *injector, plan []Fault, regs []*register) {
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { in.run(lctx, plan) })
	for _, r := range regs {
		wg.Go(func() { r.run(lctx) })
	}
	wg.Wait()
}

// heal clears whatever a fault may have left: the acquirer's fault, an
// armed commit hook, a stopped node (faulted, or stopped by its own
// error), a closed register; then waits for a serving leader.
func heal(ctx context.Context, e *env, regs []*register) error {
	var errs []error
	errs = append(errs, e.acq.SetFault(sim.Fault{}))
	for i, h := range e.hooks {
		h.disarm() // a fired hook's node was restarted by the fault's undo
		errs = append(errs, e.startNode(ctx, i))
	}
	for _, r := range regs {
		if r.client() == nil {
			errs = append(errs, r.open())
		}
	}
	_, err := e.waitLeader(ctx, 30*time.Second)
	return errors.Join(append(errs, err)...)
}

// queued counts the entries still in the registers' queues.
func queued(regs []*register) int {
	n := 0
	for _, r := range regs {
		if c := r.client(); c != nil {
			q, _ := c.Queued()
			n += len(q)
		}
	}
	return n
}

// countTransactions counts the distinct financial identities requested.
func countTransactions(events []history.Event) int {
	ids := map[string]bool{}
	for _, e := range events {
		if e.Kind == history.Request && financial(e.MTI) {
			ids[e.ID] = true
		}
	}
	return len(ids)
}

// financial reports the MTIs of money requests (an authorization, a
// financial request, an advice, a completion, a reversal).
func financial(mti string) bool { return wire.Classify(mti, "", "").Financial() }
