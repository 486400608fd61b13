package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/history"
)

// Config describes a fleet and its load.
type Config struct {
	// Nodes are the cluster's register addresses.
	Nodes []string
	// Registers is the number of simulated registers.
	Registers int
	// Dir holds the registers' reversal queues: one file (queues.journal)
	// that the fleet shares (failover.SharedQueue).
	Dir string
	// TerminalBase numbers the terminals (DE41 "L" + 7 digits); two fleets
	// against one cluster need disjoint ranges.
	TerminalBase int
	// Rate > 0 selects open loop: Poisson arrivals at Rate per second
	// (the peak rate when Profile has several segments), each taken by an
	// idle register (dropped if none is idle). Otherwise closed loop:
	// every register sends, waits for the answer, then thinks for Think
	// ± 50%.
	Rate  float64
	Think time.Duration
	// Profile shapes the open-loop rate over Duration (DayProfile: a
	// retail day compressed); zero is a constant Rate.
	Profile Profile
	// Duration is how long new transactions start; Run then waits for the
	// ones in flight.
	Duration time.Duration
	// Transactions, if > 0, also stops the run once that many have
	// started (closed loop) or arrived (open loop).
	Transactions int64
	Mix          Mix
	Seed         uint64
	// RegisterDeadline, if set, replaces the failover Deadline of every
	// register (AttemptTimeout a third of it, reversal resends from a
	// tenth of it), so that short runs settle quickly.
	RegisterDeadline time.Duration
	// TLS, if set, is every register's failover Config.TLS (one config
	// shared by the fleet: one client certificate for all).
	TLS *tls.Config
	// Tune adjusts each register's failover config after the above.
	Tune func(*failover.Config)
	// Clock drives the open-loop scheduler; nil is the real clock.
	Clock Clock
	// History, if set, receives every request of every register (its
	// invoke and return, the answer or how it ended) and every entry its
	// failover client queued or got acknowledged: what the checker
	// (package check) compares with the nodes and the acquirer.
	History *history.Log
}

func (c *Config) validate() error {
	switch {
	case len(c.Nodes) == 0:
		return errors.New("loadtest: no node addresses")
	case c.Registers < 1:
		return errors.New("loadtest: Registers must be at least 1")
	case c.Dir == "":
		return errors.New("loadtest: Dir (reversal queues) is empty")
	case c.Duration <= 0:
		return errors.New("loadtest: Duration must be positive")
	case c.Rate < 0 || c.Think < 0:
		return errors.New("loadtest: Rate and Think must not be negative")
	}
	if c.Rate > 0 {
		if err := c.Profile.validate(); err != nil {
			return err
		}
	}
	return c.Mix.validate()
}

// Fleet is a set of simulated registers.
type Fleet struct {
	cfg    Config
	queues *failover.SharedQueue
	regs   []*register
	rec    atomic.Pointer[Recorder]
}

// Open opens every register's failover client.
func Open(cfg Config) (*Fleet, error) {
	if cfg.Mix == (Mix{}) {
		cfg.Mix = DefaultMix()
	}
	if len(cfg.Profile.Weights) == 0 {
		cfg.Profile = Flat()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	// One queue file for the fleet, written a batch of registers' entries
	// at a time: a real register has its own disk, 2,000 on one box would
	// otherwise pay 2,000 files' commits of the bench's CPU.
	queues, err := failover.OpenSharedQueue(filepath.Join(cfg.Dir, "queues.journal"))
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	f := &Fleet{cfg: cfg, queues: queues, regs: make([]*register, cfg.Registers)}
	f.rec.Store(NewRecorder(cfg.Clock.Now))
	var wg sync.WaitGroup
	errs := make([]error, cfg.Registers)
	sem := make(chan struct{}, 32)
	for i := range cfg.Registers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f.regs[i], errs[i] = f.openRegister(i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Fleet) openRegister(i int) (*register, error) {
	n := f.cfg.TerminalBase + i
	r := newRegister(i, n, f.cfg.Seed, f.cfg.History)
	fc := failover.DefaultConfig()
	fc.Nodes = f.cfg.Nodes
	fc.TLS = f.cfg.TLS
	// A simulated register only ever crashes as a process (a restart is
	// Close and Open), which the page cache survives: the shared queue
	// never fsyncs.
	fc.SharedQueue, fc.ReversalQueue = f.queues, fmt.Sprintf("reg%07d", n)
	fc.NewSTAN = r.nextSTAN // one DE11 sequence per terminal
	if d := f.cfg.RegisterDeadline; d > 0 {
		fc.Deadline, fc.AttemptTimeout = d, d/3
		fc.ReversalBackoffMin = min(fc.ReversalBackoffMin, max(d/10, 100*time.Millisecond))
	}
	if f.cfg.Tune != nil {
		f.cfg.Tune(&fc)
	}
	if tuned := fc.OnEvent; tuned != nil {
		fc.OnEvent = func(e failover.Event) { r.onEvent(e); tuned(e) }
	} else {
		fc.OnEvent = r.onEvent
	}
	c, err := failover.Open(fc)
	if err != nil {
		return nil, fmt.Errorf("loadtest: register %d: %w", n, err)
	}
	r.c = c
	return r, nil
}

// Close closes every register.
func (f *Fleet) Close() error {
	var errs []error
	for _, r := range f.regs {
		if r != nil {
			errs = append(errs, r.c.Close())
		}
	}
	return errors.Join(append(errs, f.queues.Close())...)
}

// Snapshot is the live progress of the current (or last) Run.
func (f *Fleet) Snapshot() Snapshot { return f.rec.Load().Snapshot() }

// Run drives the load for Config.Duration (or until ctx ends), waits for
// the transactions in flight and returns the summary. A transaction once
// started is never abandoned: a register finishes what it started.
func (f *Fleet) Run(ctx context.Context) Summary {
	rec := NewRecorder(f.cfg.Clock.Now)
	f.rec.Store(rec)
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Duration)
	defer cancel()
	if f.cfg.Rate > 0 {
		f.openLoop(ctx, rec)
	} else {
		f.closedLoop(ctx, rec)
	}
	return rec.Summary()
}

// Recorder is the recorder of the current (or last) Run, for marking
// faults.
func (f *Fleet) Recorder() *Recorder { return f.rec.Load() }

func (f *Fleet) closedLoop(ctx context.Context, rec *Recorder) {
	var wg sync.WaitGroup
	var started atomic.Int64
	for _, r := range f.regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if n := f.cfg.Transactions; n > 0 && started.Add(1) > n {
					return
				}
				r.transact(rec, f.cfg.Mix)
				if f.cfg.Think > 0 {
					realClock{}.Sleep(ctx, f.cfg.Think/2+time.Duration(r.rnd.Int64N(int64(f.cfg.Think))))
				}
			}
		}()
	}
	wg.Wait()
}

// openLoop gives each arrival to an idle register. Every register has a
// goroutine for the run that waits for its next arrival: a goroutine per
// transaction grew its stack through the failover client each time.
func (f *Fleet) openLoop(ctx context.Context, rec *Recorder) {
	idle := make(chan *register, len(f.regs))
	work := make(map[*register]chan struct{}, len(f.regs))
	var wg sync.WaitGroup
	for _, r := range f.regs {
		next := make(chan struct{}, 1)
		work[r] = next
		idle <- r
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				r.transact(rec, f.cfg.Mix)
				idle <- r
			}
		}()
	}
	rnd := rand.New(rand.NewPCG(f.cfg.Seed, 0xa771fa1))
	arrivals(ctx, f.cfg.Clock, rnd, f.cfg.Profile, f.cfg.Rate, f.cfg.Duration, f.cfg.Transactions, func() {
		select {
		case r := <-idle:
			rec.Offer(false)
			work[r] <- struct{}{}
		default:
			rec.Offer(true)
		}
	})
	for _, next := range work {
		close(next) // a register finishes what it started, then ends
	}
	wg.Wait()
}

// ClientStats are the failover counters summed over the fleet.
type ClientStats struct {
	Requests        int64 `json:"requests"`
	Answered        int64 `json:"answered"`
	Unknown         int64 `json:"unknown"`
	NotSent         int64 `json:"not_sent"`
	Timeouts        int64 `json:"timeouts"`
	Repeats         int64 `json:"repeats"`
	Resends         int64 `json:"resends"`
	LateAnswers     int64 `json:"late_answers"`
	Failovers       int64 `json:"failovers"`
	ReversalsQueued int64 `json:"reversals_queued"`
	ReversalsAcked  int64 `json:"reversals_acked"`
	QueueDepth      int   `json:"queue_depth"`
	// QueueOldest is the age of the oldest queued entry of any register.
	QueueOldest time.Duration `json:"queue_oldest_ns"`
}

// ClientStats sums the registers' failover counters.
func (f *Fleet) ClientStats() ClientStats {
	var s ClientStats
	for _, r := range f.regs {
		c := r.c.Stats()
		s.Requests += c.Requests
		s.Answered += c.Answered
		s.Unknown += c.Unknown
		s.NotSent += c.NotSent
		s.Timeouts += c.Timeouts
		s.Repeats += c.Repeats
		s.Resends += c.Resends
		s.LateAnswers += c.LateAnswers
		s.Failovers += c.Failovers
		s.ReversalsQueued += c.ReversalsQueued
		s.ReversalsAcked += c.ReversalsAcked
		s.QueueDepth += c.QueueDepth
		s.QueueOldest = max(s.QueueOldest, c.QueueOldest)
	}
	return s
}

// Queued counts the entries still in the registers' store-and-forward
// queues (due ones: not those written ahead of requests in flight).
func (f *Fleet) Queued() (int, error) {
	n := 0
	for _, r := range f.regs {
		q, err := r.c.Queued()
		if err != nil {
			return 0, fmt.Errorf("loadtest: register %s: %w", r.tid, err)
		}
		n += len(q)
	}
	return n, nil
}

// Drain waits until every register's reversal queue is empty. It reads the
// queues themselves (Queued), not the clients' QueueDepth counter, which
// can stay stale until the client's next forwarding pass (minutes with an
// empty queue).
func (f *Fleet) Drain(ctx context.Context) error {
	for {
		depth, err := f.Queued()
		if err == nil && depth == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("loadtest: %w (%w)", err, ctx.Err())
			}
			return fmt.Errorf("loadtest: %d reversals still queued: %w", depth, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// connectParallel bounds the registers connecting at once in Connect:
// 2,000 dials and sign-ons at once into three nodes only queue behind
// each other (and time out), on a box the cluster shares.
const connectParallel = 64

// Connect has every register send one echo (0800, recorded in the
// history like any request) so that its failover client dials, finds the
// active and holds a link before Run: the load then measures
// transactions, not 2,000 connections being set up (they cost the bench
// about a third of its CPU in a 25 s run). An echo that fails is left to
// the load to retry; the first error is returned for the log.
func (f *Fleet) Connect(ctx context.Context) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, connectParallel)
	for _, r := range f.regs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			req, _ := r.next(KindEcho, time.Now().UTC())
			if _, err := r.do(ctx, req); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("loadtest: register %s: echo: %w", r.tid, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
