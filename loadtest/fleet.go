package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/wire"
)

// Config describes a fleet and its load.
type Config struct {
	// Nodes are the cluster's register addresses.
	Nodes []string
	// Registers is the number of simulated registers.
	Registers int
	// Dir holds one reversal queue file per register.
	Dir string
	// TerminalBase numbers the terminals (DE41 "L" + 7 digits); two fleets
	// against one cluster need disjoint ranges.
	TerminalBase int
	// Rate > 0 selects open loop: Poisson arrivals at Rate per second,
	// each taken by an idle register (dropped if none is idle). Otherwise
	// closed loop: every register sends, waits for the answer, then
	// thinks for Think ± 50%.
	Rate  float64
	Think time.Duration
	// Duration is how long new transactions start; Run then waits for the
	// ones in flight.
	Duration time.Duration
	Mix      Mix
	Seed     uint64
	// RegisterDeadline, if set, replaces the failover Deadline of every
	// register (AttemptTimeout a third of it, reversal resends from a
	// tenth of it), so that short runs settle quickly.
	RegisterDeadline time.Duration
	// Tune adjusts each register's failover config after the above.
	Tune func(*failover.Config)
	// Clock drives the open-loop scheduler; nil is the real clock.
	Clock Clock
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
	return c.Mix.validate()
}

// Fleet is a set of simulated registers.
type Fleet struct {
	cfg  Config
	regs []*register
	rec  atomic.Pointer[Recorder]
}

// register is one simulated cash register.
type register struct {
	c    *failover.Client
	tid  string
	stan int
	rnd  *rand.Rand
}

// Open opens every register's failover client.
func Open(cfg Config) (*Fleet, error) {
	if cfg.Mix == (Mix{}) {
		cfg.Mix = DefaultMix()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	f := &Fleet{cfg: cfg, regs: make([]*register, cfg.Registers)}
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
	fc := failover.DefaultConfig()
	fc.Nodes = f.cfg.Nodes
	fc.ReversalQueue = filepath.Join(f.cfg.Dir, fmt.Sprintf("reg%07d.db", n))
	if d := f.cfg.RegisterDeadline; d > 0 {
		fc.Deadline, fc.AttemptTimeout = d, d/3
		fc.ReversalBackoffMin = min(fc.ReversalBackoffMin, max(d/10, 100*time.Millisecond))
	}
	if f.cfg.Tune != nil {
		f.cfg.Tune(&fc)
	}
	c, err := failover.Open(fc)
	if err != nil {
		return nil, fmt.Errorf("loadtest: register %d: %w", n, err)
	}
	return &register{c: c, tid: fmt.Sprintf("L%07d", n), rnd: rand.New(rand.NewPCG(f.cfg.Seed, uint64(n)))}, nil
}

// Close closes every register.
func (f *Fleet) Close() error {
	var errs []error
	for _, r := range f.regs {
		if r != nil {
			errs = append(errs, r.c.Close())
		}
	}
	return errors.Join(errs...)
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

func (f *Fleet) closedLoop(ctx context.Context, rec *Recorder) {
	var wg sync.WaitGroup
	for _, r := range f.regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r.transact(rec, f.cfg.Mix)
				if f.cfg.Think > 0 {
					realClock{}.Sleep(ctx, f.cfg.Think/2+time.Duration(r.rnd.Int64N(int64(f.cfg.Think))))
				}
			}
		}()
	}
	wg.Wait()
}

func (f *Fleet) openLoop(ctx context.Context, rec *Recorder) {
	idle := make(chan *register, len(f.regs))
	for _, r := range f.regs {
		idle <- r
	}
	var wg sync.WaitGroup
	rnd := rand.New(rand.NewPCG(f.cfg.Seed, 0xa771fa1))
	poisson(ctx, f.cfg.Clock, rnd, f.cfg.Rate, f.cfg.Duration, func() {
		select {
		case r := <-idle:
			rec.Offer(false)
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.transact(rec, f.cfg.Mix)
				idle <- r
			}()
		default:
			rec.Offer(true)
		}
	})
	wg.Wait()
}

// transact sends one transaction of a kind drawn from mix and records it.
func (r *register) transact(rec *Recorder, mix Mix) {
	kind := mix.pick(r.rnd)
	req := r.request(kind)
	rec.Begin()
	start := time.Now()
	resp, err := r.c.Do(context.Background(), req)
	lat := time.Since(start)
	switch {
	case err == nil:
		rec.End(kind, OutcomeAnswered, resp.ResponseCode, lat)
	case errors.Is(err, failover.ErrOutcomeUnknown):
		rec.End(kind, OutcomeUnknown, "", lat)
	case errors.Is(err, failover.ErrNotSent):
		rec.End(kind, OutcomeNotSent, "", lat)
	default:
		rec.End(kind, OutcomeError, "", lat)
	}
}

// request builds the next request of kind with the register's next STAN.
func (r *register) request(kind string) *wire.Message {
	r.stan = r.stan%999999 + 1
	now := time.Now().UTC()
	proc := "000000"
	if kind == KindRefund {
		proc = "200000"
	}
	return &wire.Message{
		MTI: "0200", PAN: []string{"4111111111111111", "5500000000000004"}[r.rnd.IntN(2)], ProcCode: proc,
		Amount: 100 + r.rnd.Int64N(20000), HasAmount: true, TransmissionTime: now.Format("0102150405"),
		STAN: fmt.Sprintf("%06d", r.stan), LocalTime: now.Format("150405"), LocalDate: now.Format("0102"),
		Expiry: "3012", POSEntryMode: "051", POSCondition: "00", TerminalID: r.tid,
		MerchantID: "M00000000000001", Currency: "978",
	}
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

// Drain waits until every register's reversal queue is empty.
func (f *Fleet) Drain(ctx context.Context) error {
	for {
		depth := f.ClientStats().QueueDepth
		if depth == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadtest: %d reversals still queued: %w", depth, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
