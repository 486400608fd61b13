package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// Client talks to a tillgate cluster on behalf of one register. It is safe
// for concurrent use; all requests share one connection to the active.
type Client struct {
	cfg   Config
	log   *slog.Logger
	codec *wire.Codec
	q     *queue
	epoch time.Time // monotonic base of now()
	st    counters
	stan  *stanSeq

	dialSem  chan struct{} // one connect pass at a time
	wake     chan struct{} // the queue has a new entry
	closing  chan struct{}
	bgctx    context.Context // cancelled by Close
	bgcancel context.CancelFunc
	inflight sync.WaitGroup // Do calls
	bg       sync.WaitGroup // forwarder

	depthMu sync.Mutex // one recount of the queue depth at a time (reportQueue)

	mu           sync.Mutex
	closed       bool
	state        State
	nodes        []*nodeState
	active       string // the address believed to be the active
	term         uint64 // newest Raft term seen in a hint
	cur          *link
	links        map[*link]struct{}
	offlineUntil int64 // monotonic nanos
	lostAt       int64 // monotonic nanos when the active link was lost; 0 when not
}

// Open starts a client: it opens (or creates) the reversal queue, makes
// due what a crashed predecessor left written ahead, and starts sending
// whatever the queue holds. It does not connect until needed.
func Open(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	q, err := openQueue(cfg.ReversalQueue, cfg.QueueNoSync)
	if err != nil {
		return nil, err
	}
	left, err := q.persistReleased()
	if err != nil {
		q.close()
		return nil, fmt.Errorf("failover: reversal queue %s: %w", cfg.ReversalQueue, err)
	}
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger,
		codec:   wire.NewCodec(cfg.Dialect),
		q:       q,
		epoch:   time.Now(),
		dialSem: make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		links:   make(map[*link]struct{}),
		active:  cfg.Nodes[0],
	}
	c.bgctx, c.bgcancel = context.WithCancel(context.Background())
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.stan, err = openSTAN(q, c.log); err != nil {
		q.close()
		return nil, err
	}
	for _, a := range cfg.Nodes {
		c.nodeFor(a)
	}
	for _, e := range left {
		c.log.Warn("failover: written ahead by a request that never finished (crash or power loss): due now",
			"mti", e.Msg.MTI, "of", e.Of)
		c.nowDue(e)
	}
	c.bg.Add(1)
	go c.forwardLoop()
	return c, nil
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
	links := make([]*link, 0, len(c.links))
	for l := range c.links {
		links = append(links, l)
	}
	c.mu.Unlock()
	close(c.closing)
	c.bgcancel()
	for _, l := range links {
		l.fail(ErrClosed)
	}
	c.inflight.Wait()
	c.bg.Wait()
	c.setState(StateClosed)
	// Entries released since the forwarder's last pass: the file must not
	// show them held, or the next Open takes them for a crash's leftovers.
	_, perr := c.q.persistReleased()
	if err := errors.Join(perr, c.q.close()); err != nil {
		return fmt.Errorf("failover: close: %w", err)
	}
	return nil
}

// Active returns the address of the node believed to be the active.
func (c *Client) Active() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	state, active := c.state, c.active
	c.mu.Unlock()
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
	}
}

// exchange is one Do in progress.
type exchange struct {
	orig    *wire.Message
	m       wire.Message // what goes out: the request, then its repeat
	key     string
	ch      chan *wire.Message
	sent    bool   // bytes may have reached a node: only repeats from now on
	entry   *entry // written ahead: what is owed if the outcome is unknown
	npSince time.Time
	cause   error
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
	c.st.requests.Add(1)
	until := time.Now().Add(c.cfg.Deadline)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	// Every wait below (dial, sign-on, connect pass, write) ends with ctx.
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	x := &exchange{orig: req, m: *req, key: req.Key(), ch: make(chan *wire.Message, 1)}
	if err := c.writeAhead(x); err != nil {
		return nil, err
	}
	resp, err := c.run(ctx, x, until)
	return c.settle(x, resp, err)
}

// writeAhead stores x's entry, held, before anything is sent: a register
// that loses power with the request on the wire finds it at Open.
func (c *Client) writeAhead(x *exchange) error {
	e := settlementFor(x.orig, c.NextSTAN, time.Now())
	if e == nil {
		return nil
	}
	e.Held = true
	if err := c.q.add(e); err != nil {
		if errors.Is(err, errQueuedAlready) {
			return fmt.Errorf("%w: %s %s is in the store-and-forward queue: %w", ErrInvalidRequest, x.orig.MTI, x.key, err)
		}
		c.st.notSent.Add(1)
		c.log.Error("failover: write-ahead failed: request not sent", "mti", x.orig.MTI, "key", x.key, "err", err)
		return fmt.Errorf("%w: %s %s: write ahead %s: %w", ErrNotSent, x.orig.MTI, x.key, e.Msg.MTI, err)
	}
	x.entry = e
	return nil
}

// settle ends x's written-ahead entry and returns what Do returns: the
// entry is removed after a final answer or when nothing left, and due when
// the outcome is unknown or a reversal or advice was answered without
// being acknowledged.
func (c *Client) settle(x *exchange, resp *wire.Message, err error) (*wire.Message, error) {
	e := x.entry
	switch {
	case e == nil:
		return resp, err
	case resp != nil && mustDeliver(x.orig.MTI) && !acknowledges(resp):
		c.log.Warn("failover: not acknowledged: queued", "mti", x.orig.MTI, "key", x.key, "rc", resp.ResponseCode)
		c.release(e, 1)
		return resp, nil
	case errors.Is(err, ErrOutcomeUnknown):
		c.release(e, 0)
		return nil, err
	}
	if _, rerr := c.q.remove(e); rerr != nil {
		return c.notRemoved(x, resp, err, rerr)
	}
	return resp, err
}

// release makes e due, after the backoff of tries refused tries.
func (c *Client) release(e *entry, tries int) {
	var wait time.Duration
	if tries > 0 {
		wait = c.reversalBackoff(tries)
	}
	c.q.release(e.ID, tries, wait)
	c.nowDue(e)
}

// notRemoved handles a write-ahead entry the disk would not remove after
// x ended: it stays in the file and a restart would send it. An approval
// that its own reversal would undo must not be what the register holds:
// the reversal goes now and Do says the outcome is unknown. Anything else
// stays as answered (a reversal of a decline, or a second copy of a
// delivered reversal or advice, undoes nothing).
func (c *Client) notRemoved(x *exchange, resp *wire.Message, err, rerr error) (*wire.Message, error) {
	c.log.Error("failover: written-ahead entry not removed: sent instead", "mti", x.entry.Msg.MTI, "of", x.entry.Of, "err", rerr)
	c.release(x.entry, 0)
	if resp == nil || resp.ResponseCode != wire.RCApproved || mustDeliver(x.orig.MTI) {
		return resp, err
	}
	c.st.unknown.Add(1)
	c.emit(Event{Kind: EventUnknown, Key: x.key, Err: rerr})
	return nil, fmt.Errorf("%w: %s %s was approved, but its written-ahead reversal could not be removed, so it is sent: %w",
		ErrOutcomeUnknown, x.orig.MTI, x.key, rerr)
}

// run sends until an answer, a proof that nothing was sent, or the deadline.
func (c *Client) run(ctx context.Context, x *exchange, until time.Time) (*wire.Message, error) {
	backoff := c.cfg.RepeatBackoff
	for {
		if err := c.expired(ctx, until); err != nil {
			return c.giveUp(x, err)
		}
		l, err := c.link(ctx, x.sent, until)
		if err != nil {
			if !x.sent || errors.Is(err, ErrClosed) {
				return c.giveUp(x, err)
			}
			continue // holding until the deadline
		}
		if x.sent {
			c.st.repeats.Add(1)
			c.emit(Event{Kind: EventRepeat, Key: x.key, Addr: l.addr})
		}
		start := c.now()
		resp, wrote, err := l.roundTrip(ctx, &x.m, x.key, x.ch, minTime(time.Now().Add(c.cfg.AttemptTimeout), until))
		switch {
		case err == nil && notProcessed(resp):
			if err := c.notProcessedAgain(ctx, x, l, resp, until); err != nil {
				return c.giveUp(x, err)
			}
		case err == nil:
			c.answered(resp)
			return resp, nil
		case errors.Is(err, ErrInvalidRequest):
			return nil, err
		case errors.Is(err, errPack) && !x.sent:
			return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		case errors.Is(err, errPack):
			return c.giveUp(x, err) // a repeat can never go: nothing more to try
		case !wrote:
			x.cause = err // never left: resend unchanged
		default:
			x.cause = err
			c.markSent(x)
			c.afterSilence(ctx, l, err, start)
			c.sleep(ctx, jitter(backoff), until)
			backoff = min(2*backoff, c.cfg.AttemptTimeout/2)
		}
	}
}

func (c *Client) expired(ctx context.Context, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !time.Now().Before(until) {
		return fmt.Errorf("deadline passed: %w", context.DeadlineExceeded)
	}
	return nil
}

// markSent switches x to repeats: its bytes may have reached a node.
func (c *Client) markSent(x *exchange) {
	x.sent = true
	if !wire.IsRepeat(x.m.MTI) && len(x.m.MTI) == 4 {
		x.m.MTI = x.m.MTI[:3] + "1"
	}
}

// afterSilence handles an attempt without an answer: a timeout on a link
// that does not answer an echo either is dead.
func (c *Client) afterSilence(ctx context.Context, l *link, err error, start int64) {
	if !errors.Is(err, errAttemptTimeout) {
		return
	}
	c.st.timeouts.Add(1)
	c.emit(Event{Kind: EventTimeout, Addr: l.addr, Err: err})
	if l.lastRead.Load() > start {
		return // the node talks: it is still working on it
	}
	if ctx.Err() != nil {
		return // this Do is over: its deadline says nothing about the link
	}
	if !c.probe(ctx, l) && ctx.Err() == nil {
		l.fail(fmt.Errorf("%w: no answer to an echo after a timeout", errLinkDown))
	}
}

// probe sends an echo on l and reports whether it was answered.
func (c *Client) probe(ctx context.Context, l *link) bool {
	m := c.netMessage(wire.NetEcho)
	resp, _, err := l.roundTrip(ctx, m, m.Key(), make(chan *wire.Message, 1), time.Now().Add(c.cfg.DialTimeout))
	return err == nil && resp != nil
}

// notProcessedAgain handles an NP answer: the node did nothing, so the
// request goes again unchanged (to the active the hint named, already
// followed). A request that never left gives up after Hold of NPs.
func (c *Client) notProcessedAgain(ctx context.Context, x *exchange, l *link, resp *wire.Message, until time.Time) error {
	c.st.resends.Add(1)
	c.emit(Event{Kind: EventResend, Key: x.key, Addr: l.addr})
	if x.npSince.IsZero() {
		x.npSince = time.Now()
	}
	if !x.sent && time.Since(x.npSince) >= c.cfg.Hold {
		return errNotProcessed
	}
	if noActive(resp) && !c.noActive(l) {
		return nil // left that node: the next attempt asks another
	}
	if c.current() == l {
		// The hint did not move us (no active known yet, or the one named
		// cannot be reached): wait a little before asking again.
		c.sleep(ctx, c.recheck(), until)
	}
	return nil
}

// giveUp ends x without an answer. A written-ahead entry is settled by
// Do: due when bytes left, removed when not.
func (c *Client) giveUp(x *exchange, cause error) (*wire.Message, error) {
	if x.cause != nil && !errors.Is(cause, x.cause) {
		cause = fmt.Errorf("%w (last attempt: %w)", cause, x.cause)
	}
	if !x.sent {
		c.st.notSent.Add(1)
		return nil, fmt.Errorf("%w: %s %s: %w", ErrNotSent, x.orig.MTI, x.key, cause)
	}
	c.st.unknown.Add(1)
	c.emit(Event{Kind: EventUnknown, Key: x.key, Err: cause})
	c.log.Warn("failover: outcome unknown", "mti", x.orig.MTI, "key", x.key, "err", cause)
	return nil, fmt.Errorf("%w: %s %s: %w", ErrOutcomeUnknown, x.orig.MTI, x.key, cause)
}

// answered records a final answer.
func (c *Client) answered(resp *wire.Message) {
	c.st.answered.Add(1)
	if resp.ResponseCode == wire.RCApproved {
		c.st.approved.Add(1)
	}
	c.mu.Lock()
	lost := c.lostAt
	c.lostAt = 0
	c.mu.Unlock()
	if lost != 0 {
		rec := time.Duration(c.now() - lost)
		c.st.failovers.Add(1)
		c.st.lastRecovery.Store(int64(rec))
		c.emit(Event{Kind: EventFailover, Recovery: rec, Addr: c.Active()})
		c.log.Info("failover: recovered", "active", c.Active(), "after", rec)
	}
}

// lateAnswer handles an answer nobody waits for: an echo, an answer to an
// attempt already abandoned, or the acknowledgement of a queued entry whose
// attempt timed out.
func (c *Client) lateAnswer(l *link, m *wire.Message) {
	if wire.OriginalMTI(m.MTI) == "0810" || notProcessed(m) {
		return
	}
	key := m.Key()
	c.st.late.Add(1)
	c.emit(Event{Kind: EventLateAnswer, Key: key, RC: m.ResponseCode, Addr: l.addr})
	c.log.Info("failover: late answer", "mti", m.MTI, "key", key, "rc", m.ResponseCode)
	if !acknowledges(m) {
		return // a refused reversal or advice stays queued
	}
	if e, err := c.q.removeDue(key); err != nil {
		c.log.Error("failover: queue", "err", err)
	} else if e != nil {
		c.acked(e, &e.Msg, m.ResponseCode)
	}
	// A late approval of an abandoned request: its reversal became due
	// before Do returned, so nothing more to do here.
}

// noActive reports an answer whose node knows no active (DE48 NA).
func noActive(m *wire.Message) bool {
	v, _ := m.Private.Get(wire.TagNoActive)
	return v == "1"
}

func notProcessed(m *wire.Message) bool {
	v, _ := m.Private.Get("NP")
	return v == "1"
}

// netMessage builds an 0800 with a fresh identity.
func (c *Client) netMessage(code string) *wire.Message {
	return &wire.Message{MTI: "0800", TransmissionTime: de7(time.Now()), STAN: c.NextSTAN(), NetworkCode: code}
}

// NextSTAN returns the next DE11 of the register's sequence, which the
// client owns: the register takes the STANs of its own requests from here
// (or lends the client its sequence through Config.NewSTAN). The client's
// reversals and network messages take theirs from the same sequence, so
// none can repeat the STAN of a request of the same second, which would
// make it the same identity (DE41 + DE11 + DE7).
func (c *Client) NextSTAN() string {
	if c.cfg.NewSTAN != nil {
		return c.cfg.NewSTAN()
	}
	return c.stan.nextSTAN()
}

// de7 is a transmission date and time, MMDDhhmmss UTC.
func de7(t time.Time) string { return t.UTC().Format("0102150405") }

// now is monotonic nanoseconds since Open.
func (c *Client) now() int64 { return int64(time.Since(c.epoch)) }

func (c *Client) emit(e Event) {
	if c.cfg.OnEvent == nil {
		return
	}
	e.Time = time.Now()
	c.cfg.OnEvent(e)
}

func (c *Client) setState(s State) {
	c.mu.Lock()
	old := c.state
	c.state = s
	c.mu.Unlock()
	if old != s {
		c.emit(Event{Kind: EventState, State: s})
		c.log.Debug("failover: state", "from", old, "to", s)
	}
}

// sleep waits d, bounded by until, ctx and Close.
func (c *Client) sleep(ctx context.Context, d time.Duration, until time.Time) {
	if r := time.Until(until); r < d {
		d = r
	}
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-c.closing:
	}
}

func (c *Client) recheck() time.Duration {
	lo, hi := c.cfg.RecheckMin, c.cfg.RecheckMax
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}

// jitter spreads d over [0.8d, 1.2d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d*4/5 + rand.N(d*2/5+1)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
