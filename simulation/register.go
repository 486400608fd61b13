package simulation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/wire"
)

// register is one simulated cash register on a real failover client. Its
// steps run one at a time in its own goroutine; the client's forwarder
// reports queued entries concurrently.
type register struct {
	tid   string
	cfg   failover.Config // the client's, OnEvent included: the same at every Open
	hist  *history.Log
	b     *builder
	trnd  *rand.Rand // think times and fault deadlines: this register's goroutine only
	stan  atomic.Uint32
	batch *batch
	// short > 0 (nanoseconds) is a register-timeout fault in force: each
	// request gets a deadline of at most this.
	short atomic.Int64

	mu sync.Mutex
	c  *failover.Client // nil while the register is restarting
}

// registerClientConfig is a failover client with short timings: a deadline
// of a few seconds, so that faults end in unknown outcomes and queued
// reversals; quick re-probes, so that registers follow a new active fast.
func registerClientConfig(nodes []string, queue string, log *slog.Logger) failover.Config {
	cfg := failover.DefaultConfig()
	cfg.Nodes = nodes
	cfg.ReversalQueue = queue
	cfg.DialTimeout = time.Second
	cfg.AttemptTimeout = 2500 * time.Millisecond
	cfg.Deadline = 5 * time.Second
	cfg.Hold = 2 * time.Second
	cfg.OfflineProbe = 2 * time.Second
	cfg.BackoffMin, cfg.BackoffMax = 100*time.Millisecond, time.Second
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = 200*time.Millisecond, 2*time.Second
	cfg.Logger = log
	return cfg
}

// terminalID is register i's DE41.
func terminalID(i int) string { return fmt.Sprintf("S%07d", i+1) }

// newRegister opens register number i of seed; its queue file lives in dir.
func newRegister(seed uint64, i int, dir string, nodes []string, hist *history.Log, log *slog.Logger) (*register, error) {
	tid := terminalID(i)
	r := &register{
		tid: tid, hist: hist, batch: newBatch(),
		trnd: stream(seed, "timing/"+tid),
	}
	r.b = newBuilder(tid, DefaultMix(), stream(seed, "mix/"+tid), r.nextSTAN)
	r.cfg = registerClientConfig(nodes, filepath.Join(dir, tid+".queue"), log.With("register", tid))
	// Its queue key, as a real register has one: the 0120s of the mix
	// keep their card sealed in the queue.
	r.cfg.QueueKeyFile = filepath.Join(dir, tid+".queue.key")
	if _, err := os.Stat(r.cfg.QueueKeyFile); errors.Is(err, os.ErrNotExist) {
		if err := failover.WriteQueueKeyFile(r.cfg.QueueKeyFile); err != nil {
			return nil, err
		}
	}
	r.cfg.NewSTAN = r.nextSTAN
	r.cfg.OnEvent = r.onEvent
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// nextSTAN is the register's DE11 sequence, shared with its client's
// reversals and network messages so that no two of its messages collide.
func (r *register) nextSTAN() string {
	for {
		old := r.stan.Load()
		if next := old%999999 + 1; r.stan.CompareAndSwap(old, next) {
			return fmt.Sprintf("%06d", next)
		}
	}
}

// open opens the client on the register's queue file (again, after a
// restart: what it holds is due at once).
func (r *register) open() error {
	c, err := failover.Open(r.cfg)
	if err != nil {
		return fmt.Errorf("simulation: register %s: %w", r.tid, err)
	}
	r.mu.Lock()
	r.c = c
	r.mu.Unlock()
	return nil
}

// close closes the client, as a register that loses power: requests in
// flight end, what was queued stays on disk.
func (r *register) close() error {
	r.mu.Lock()
	c := r.c
	r.c = nil
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.Close()
}

func (r *register) client() *failover.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c
}

// run sends steps until ctx ends; a step under way is finished.
func (r *register) run(ctx context.Context) {
	for ctx.Err() == nil {
		c := r.client()
		if c == nil {
			sleepCtx(ctx, 20*time.Millisecond)
			continue
		}
		r.play(c, r.b.next(time.Now()))
		sleepCtx(ctx, between(r.trnd, 30*time.Millisecond, 120*time.Millisecond))
	}
}

// play sends one step: its request, then the repeat it calls for.
func (r *register) play(c *failover.Client, s step) {
	resp, outcome := r.do(c, s.Req, r.deadline(s.FirstDeadline))
	rc := ""
	if resp != nil {
		rc = resp.ResponseCode
	}
	r.b.learn(s, rc, outcome == history.Unknown)
	switch {
	case outcome == history.Unknown && s.FirstDeadline > 0:
		r.do(c, repeatOf(s.Req), r.deadline(0))
	case outcome == history.Answered && s.RepeatAfter:
		r.do(c, repeatOf(s.Req), r.deadline(0))
	}
}

// deadline is how long a request may take: the step's own bound, or the
// register-timeout fault's, or 0 for the client's Deadline.
func (r *register) deadline(own time.Duration) time.Duration {
	if short := time.Duration(r.short.Load()); short > 0 {
		d := between(r.trnd, short/4, short)
		if own == 0 || d < own {
			return d
		}
	}
	return own
}

// do sends req through c and records it. The request is never abandoned
// with the run's context: a register finishes what it started.
func (r *register) do(c *failover.Client, req *wire.Message, deadline time.Duration) (*wire.Message, string) {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if deadline > 0 {
		ctx, cancel = context.WithTimeout(ctx, deadline)
	}
	defer cancel()
	invoke := time.Now()
	resp, err := c.Do(ctx, req)
	outcome := outcomeOf(err)
	r.hist.Add(history.RequestEvent(req, invoke, time.Now(), resp, outcome))
	if resp != nil {
		r.batch.record(req, resp.ResponseCode, resp.AuthCode)
	}
	return resp, outcome
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return history.Answered
	case errors.Is(err, failover.ErrOutcomeUnknown):
		return history.Unknown
	case errors.Is(err, failover.ErrNotSent):
		return history.NotSent
	}
	return history.Failed
}

// onEvent records the client's queue in the history and the batch.
func (r *register) onEvent(e failover.Event) {
	switch e.Kind {
	case failover.EventReversalQueued:
		r.batch.queued(e.Key)
		r.hist.Add(history.QueueEvent(history.Queued, e.Key, e.Msg, "", e.Time))
	case failover.EventReversalAcked:
		r.batch.acked(e.Key, e.Msg, e.RC)
		msg := e.Msg
		if msg == nil {
			msg = &wire.Message{TerminalID: r.tid}
		}
		r.hist.Add(history.QueueEvent(history.Acked, e.Key, msg, e.RC, e.Time))
	}
}
