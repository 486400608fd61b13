package failover

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// Client talks to a tillgate cluster on behalf of one register. It is safe
// for concurrent use; all requests share one connection to the active.
//
// It is three parts with one job each, over a shared core (configuration,
// log, counters, events, clock, STAN sequence):
//
//   - router: the node list, the per-node breakers, the link to the active
//     and the hints that move it; connecting, holding, offline (router.go,
//     link.go).
//   - forwarder: the durable store-and-forward queue, written ahead of each
//     request and settled by its end, and the goroutine that sends what is
//     due (writeahead.go, forward.go, queue.go).
//   - requester: the path of one Do: attempts, repeats, resends, timeouts,
//     the answer or the unknown outcome (request.go).
//
// The Client itself wires them and orders Open and Close.
type Client struct {
	*core
	r   *router
	fwd *forwarder
	req *requester

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup // Do calls
}

// Open starts a client: it opens (or creates) the reversal queue, makes
// due what a crashed predecessor left written ahead, and starts sending
// whatever the queue holds. It does not connect until needed.
func Open(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q, err := cfg.openQueue(log)
	if err != nil {
		return nil, err
	}
	left, err := q.persistReleased()
	if err != nil {
		q.close()
		return nil, fmt.Errorf("failover: reversal queue %s: %w", cfg.ReversalQueue, err)
	}
	k := &core{cfg: cfg, log: log, codec: wire.NewCodec(cfg.Dialect), epoch: time.Now(), closing: make(chan struct{})}
	if k.stan, err = openSTAN(q, k.log); err != nil {
		q.close()
		return nil, err
	}
	c := &Client{core: k, r: newRouter(k)}
	c.fwd = newForwarder(k, q, c.r)
	c.r.onLate = c.fwd.lateAnswer
	c.req = &requester{core: k, r: c.r, fwd: c.fwd}
	for _, e := range left {
		c.log.Warn("failover: written ahead by a request that never finished (crash or power loss): due now",
			"mti", e.Msg.MTI, "of", e.Of)
		c.fwd.nowDue(e)
	}
	c.fwd.start()
	return c, nil
}

// openQueue opens the register's own queue file, or its queue in the
// SharedQueue; either way the queue seals the card numbers it keeps with
// the queue key, if one is configured, before they reach the store.
func (cfg *Config) openQueue(log *slog.Logger) (*queue, error) {
	var seal *sealer
	if cfg.QueueKeyFile != "" {
		var err error
		if seal, err = loadQueueKey(cfg.QueueKeyFile); err != nil {
			return nil, err
		}
	}
	if cfg.SharedQueue == nil {
		return openQueue(cfg.ReversalQueue, cfg.QueueNoSync, seal, log)
	}
	st, err := cfg.SharedQueue.store(cfg.ReversalQueue)
	if err != nil {
		return nil, err
	}
	q, err := newQueue(st, seal)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("failover: reversal queue %q of shared queue %s: %w", cfg.ReversalQueue, cfg.SharedQueue.path, err)
	}
	return q, nil
}

// Close stops the client: connections close, requests in flight end (those
// whose bytes left leave their entry due), the queue is kept on disk.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	// No link opens from now on; then the waits end, the forwarder stops,
	// and the links close under what still waits on them.
	links := c.r.close()
	close(c.closing)
	c.fwd.stop()
	for _, l := range links {
		l.fail(ErrClosed)
	}
	c.inflight.Wait()
	c.fwd.wait()
	c.r.setState(StateClosed)
	// Entries released since the forwarder's last pass: the file must not
	// show them held, or the next Open takes them for a crash's leftovers.
	if err := c.fwd.closeQueue(); err != nil {
		return fmt.Errorf("failover: close: %w", err)
	}
	return nil
}

// Do sends req and returns its answer (approved or declined: look at
// ResponseCode). Otherwise the error wraps ErrNotSent (safe to retry) or
// ErrOutcomeUnknown (a reversal is durably queued). req is not modified;
// DE7, DE11 and DE41 identify it and must be unique among calls in flight.
//
// Before the first byte of a request that may need undoing leaves, its
// reversal (or, for a reversal or advice, the message itself) is written to
// the queue, held; a final answer removes it, an unknown outcome makes it
// due. A reversal or advice answered 30, 91 or 96 is returned as answered
// and stays queued: the client delivers it. Do returns by Config.Deadline
// or ctx's deadline, whichever is first, plus at most the local queue
// commit that settles its entry.
func (c *Client) Do(ctx context.Context, req *wire.Message) (*wire.Message, error) {
	if req == nil || len(req.MTI) != 4 || req.STAN == "" || req.TransmissionTime == "" {
		return nil, fmt.Errorf("%w: MTI, DE7 and DE11 are required", ErrInvalidRequest)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotSent, ErrClosed)
	}
	c.inflight.Add(1)
	c.mu.Unlock()
	defer c.inflight.Done()
	return c.req.do(ctx, req)
}

// Active returns the address of the node believed to be the active.
func (c *Client) Active() string { return c.r.activeAddr() }

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	state, active := c.r.snapshot()
	s := &c.st
	return Stats{
		State: state, Active: active,
		Requests: s.requests.Load(), Answered: s.answered.Load(), Approved: s.approved.Load(),
		NotSent: s.notSent.Load(), Unknown: s.unknown.Load(),
		Timeouts: s.timeouts.Load(), Repeats: s.repeats.Load(), Resends: s.resends.Load(),
		LateAnswers: s.late.Load(), Failovers: s.failovers.Load(),
		LastRecovery:    time.Duration(s.lastRecovery.Load()),
		ReversalsQueued: s.revQueued.Load(), ReversalsAcked: s.revAcked.Load(),
		QueueDepth: int(s.queueDepth.Load()), QueueOldest: time.Duration(s.queueOldest.Load()),
		BreakersOpen: s.breakersOpen.Load(), Dials: s.dials.Load(), DialFailures: s.dialFailures.Load(),
		HintsIgnored: s.hintsIgnored.Load(),
	}
}

// Queued lists the store-and-forward queue, oldest first: the due entries,
// not those written ahead of requests still in flight.
func (c *Client) Queued() ([]Queued, error) { return c.fwd.queued() }

// NextSTAN returns the next DE11 of the register's sequence, which the
// client owns: the register takes the STANs of its own requests from here
// (or lends the client its sequence through Config.NewSTAN). The client's
// reversals and network messages take theirs from the same sequence, so
// none can repeat the STAN of a request of the same second, which would
// make it the same identity (DE41 + DE11 + DE7).
func (c *Client) NextSTAN() string { return c.nextSTAN() }
