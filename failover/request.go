package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// requester is the path of one Do: it asks the router for the link to the
// active, sends, and decides from what happened whether the request goes
// again unchanged (it never left), as a repeat (it may have arrived), or
// ends (an answer, or the deadline: not sent, or outcome unknown). The
// forwarder writes its entry ahead and settles it.
type requester struct {
	*core
	r   *router
	fwd *forwarder
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

// do is Client.Do once the client has counted the call.
func (q *requester) do(ctx context.Context, req *wire.Message) (*wire.Message, error) {
	q.st.requests.Add(1)
	until := time.Now().Add(q.cfg.Deadline)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	// Every wait below (dial, sign-on, connect pass, write) ends with ctx.
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	x := &exchange{orig: req, m: *req, key: req.Key(), ch: make(chan *wire.Message, 1)}
	if err := q.fwd.writeAhead(x); err != nil {
		return nil, err
	}
	resp, err := q.run(ctx, x, until)
	return q.fwd.settle(x, resp, err)
}

// run sends until an answer, a proof that nothing was sent, or the deadline.
func (q *requester) run(ctx context.Context, x *exchange, until time.Time) (*wire.Message, error) {
	backoff := q.cfg.RepeatBackoff
	for {
		if err := expired(ctx, until); err != nil {
			return q.giveUp(x, err)
		}
		l, err := q.r.link(ctx, x.sent, until)
		if err != nil {
			if !x.sent || errors.Is(err, ErrClosed) {
				return q.giveUp(x, err)
			}
			continue // holding until the deadline
		}
		if x.sent {
			q.st.repeats.Add(1)
			q.emit(Event{Kind: EventRepeat, Key: x.key, Addr: l.addr})
		}
		start := q.now()
		resp, wrote, err := l.roundTrip(ctx, &x.m, x.key, x.ch, minTime(time.Now().Add(q.cfg.AttemptTimeout), until))
		switch {
		case err == nil && notProcessed(resp):
			if err := q.notProcessedAgain(ctx, x, l, resp, until); err != nil {
				return q.giveUp(x, err)
			}
		case err == nil:
			q.answered(resp)
			return resp, nil
		case errors.Is(err, ErrInvalidRequest):
			return nil, err
		case errors.Is(err, errPack) && !x.sent:
			return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		case errors.Is(err, errPack):
			return q.giveUp(x, err) // a repeat can never go: nothing more to try
		case !wrote:
			x.cause = err // never left: resend unchanged
		default:
			x.cause = err
			x.markSent()
			q.afterSilence(ctx, l, err, start)
			q.sleep(ctx, jitter(backoff), until)
			backoff = min(2*backoff, q.cfg.AttemptTimeout/2)
		}
	}
}

func expired(ctx context.Context, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !time.Now().Before(until) {
		return fmt.Errorf("deadline passed: %w", context.DeadlineExceeded)
	}
	return nil
}

// markSent switches x to repeats: its bytes may have reached a node.
func (x *exchange) markSent() {
	x.sent = true
	if !wire.IsRepeat(x.m.MTI) && len(x.m.MTI) == 4 {
		x.m.MTI = x.m.MTI[:3] + "1"
	}
}

// afterSilence handles an attempt without an answer: a timeout on a link
// that does not answer an echo either is dead.
func (q *requester) afterSilence(ctx context.Context, l *link, err error, start int64) {
	if !errors.Is(err, errAttemptTimeout) {
		return
	}
	q.st.timeouts.Add(1)
	q.emit(Event{Kind: EventTimeout, Addr: l.addr, Err: err})
	if l.lastRead.Load() > start {
		return // the node talks: it is still working on it
	}
	if ctx.Err() != nil {
		return // this Do is over: its deadline says nothing about the link
	}
	if !q.probe(ctx, l) && ctx.Err() == nil {
		l.fail(fmt.Errorf("%w: no answer to an echo after a timeout", errLinkDown))
	}
}

// probe sends an echo on l and reports whether it was answered.
func (q *requester) probe(ctx context.Context, l *link) bool {
	m := q.netMessage(wire.NetEcho)
	resp, _, err := l.roundTrip(ctx, m, m.Key(), make(chan *wire.Message, 1), time.Now().Add(q.cfg.DialTimeout))
	return err == nil && resp != nil
}

// notProcessedAgain handles an NP answer: the node did nothing, so the
// request goes again unchanged (to the active the hint named, already
// followed). A request that never left gives up after Hold of NPs.
func (q *requester) notProcessedAgain(ctx context.Context, x *exchange, l *link, resp *wire.Message, until time.Time) error {
	q.st.resends.Add(1)
	q.emit(Event{Kind: EventResend, Key: x.key, Addr: l.addr})
	if x.npSince.IsZero() {
		x.npSince = time.Now()
	}
	if !x.sent && time.Since(x.npSince) >= q.cfg.Hold {
		return errNotProcessed
	}
	if noActive(resp) && !q.r.noActive(l) {
		return nil // left that node: the next attempt asks another
	}
	if q.r.current() == l {
		// The hint did not move us (no active known yet, or the one named
		// cannot be reached): wait a little before asking again.
		q.sleep(ctx, q.recheck(), until)
	}
	return nil
}

// giveUp ends x without an answer. A written-ahead entry is settled by
// Do: due when bytes left, removed when not.
func (q *requester) giveUp(x *exchange, cause error) (*wire.Message, error) {
	if x.cause != nil && !errors.Is(cause, x.cause) {
		cause = fmt.Errorf("%w (last attempt: %w)", cause, x.cause)
	}
	if !x.sent {
		q.st.notSent.Add(1)
		return nil, fmt.Errorf("%w: %s %s: %w", ErrNotSent, x.orig.MTI, x.key, cause)
	}
	q.st.unknown.Add(1)
	q.emit(Event{Kind: EventUnknown, Key: x.key, Err: cause})
	q.log.Warn("failover: outcome unknown", "mti", x.orig.MTI, "key", x.key, "err", cause)
	return nil, fmt.Errorf("%w: %s %s: %w", ErrOutcomeUnknown, x.orig.MTI, x.key, cause)
}

// answered records a final answer, and the failover it ends if the link to
// the active had been lost.
func (q *requester) answered(resp *wire.Message) {
	q.st.answered.Add(1)
	if resp.ResponseCode == wire.RCApproved {
		q.st.approved.Add(1)
	}
	if rec, ok := q.r.recovered(); ok {
		active := q.r.activeAddr()
		q.st.failovers.Add(1)
		q.st.lastRecovery.Store(int64(rec))
		q.emit(Event{Kind: EventFailover, Recovery: rec, Addr: active})
		q.log.Info("failover: recovered", "active", active, "after", rec)
	}
}

// noActive reports an answer whose node knows no active (DE48 NA).
func noActive(m *wire.Message) bool {
	v, _ := m.Private.Get(wire.TagNoActive)
	return v == "1"
}

// notProcessed reports an answer of a node that did nothing with the
// request (DE48 NP): resending it unchanged is safe.
func notProcessed(m *wire.Message) bool {
	v, _ := m.Private.Get(tagNotProcessed)
	return v == "1"
}

// tagNotProcessed is the DE48 tag of a node's "not processed" answer.
const tagNotProcessed = "NP"
