package failover

import (
	"errors"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// The forwarder's side of a Do: the entry written ahead of the request,
// settled when the Do ends; and the answers that come after their Do (or
// the forwarder's try) gave up on them.

// writeAhead stores x's entry, held, before anything is sent: a register
// that loses power with the request on the wire finds it at Open.
func (f *forwarder) writeAhead(x *exchange) error {
	e := settlementFor(x.orig, f.nextSTAN, time.Now())
	if e == nil {
		return nil
	}
	e.Held = true
	if e.Msg.PAN != "" && f.q.seal == nil {
		f.log.Warn("failover: an 0120 names a card and no queue key is configured: refused", "mti", x.orig.MTI, "key", x.key)
		return fmt.Errorf("%w: %s %s names a card (DE2) its store-and-forward entry must keep: set QueueKeyFile to seal it", ErrInvalidRequest, x.orig.MTI, x.key)
	}
	if err := f.q.add(e); err != nil {
		if errors.Is(err, errQueuedAlready) {
			return fmt.Errorf("%w: %s %s is in the store-and-forward queue: %w", ErrInvalidRequest, x.orig.MTI, x.key, err)
		}
		f.st.notSent.Add(1)
		f.log.Error("failover: write-ahead failed: request not sent", "mti", x.orig.MTI, "key", x.key, "err", err)
		return fmt.Errorf("%w: %s %s: write ahead %s: %w", ErrNotSent, x.orig.MTI, x.key, e.Msg.MTI, err)
	}
	x.entry = e
	return nil
}

// settle ends x's written-ahead entry and returns what Do returns: the
// entry is removed after a final answer or when nothing left, and due when
// the outcome is unknown or a reversal or advice was answered without
// being acknowledged.
func (f *forwarder) settle(x *exchange, resp *wire.Message, err error) (*wire.Message, error) {
	e := x.entry
	switch {
	case e == nil:
		return resp, err
	case resp != nil && mustDeliver(x.orig.MTI) && !acknowledges(resp):
		f.log.Warn("failover: not acknowledged: queued", "mti", x.orig.MTI, "key", x.key, "rc", resp.ResponseCode)
		f.release(e, 1)
		return resp, nil
	case errors.Is(err, ErrOutcomeUnknown):
		f.release(e, 0)
		return nil, err
	}
	if _, rerr := f.q.remove(e); rerr != nil {
		return f.notRemoved(x, resp, err, rerr)
	}
	return resp, err
}

// release makes e due, after the backoff of tries refused tries.
func (f *forwarder) release(e *entry, tries int) {
	var wait time.Duration
	if tries > 0 {
		wait = f.reversalBackoff(tries)
	}
	f.q.release(e.ID, tries, wait)
	f.nowDue(e)
}

// notRemoved handles a write-ahead entry the disk would not remove after
// x ended: it stays in the file and a restart would send it. An approval
// that its own reversal would undo must not be what the register holds:
// the reversal goes now and Do says the outcome is unknown. Anything else
// stays as answered (a reversal of a decline, or a second copy of a
// delivered reversal or advice, undoes nothing).
func (f *forwarder) notRemoved(x *exchange, resp *wire.Message, err, rerr error) (*wire.Message, error) {
	f.log.Error("failover: written-ahead entry not removed: sent instead", "mti", x.entry.Msg.MTI, "of", x.entry.Of, "err", rerr)
	f.release(x.entry, 0)
	if resp == nil || resp.ResponseCode != wire.RCApproved || mustDeliver(x.orig.MTI) {
		return resp, err
	}
	f.st.unknown.Add(1)
	f.emit(Event{Kind: EventUnknown, Key: x.key, Err: rerr})
	return nil, fmt.Errorf("%w: %s %s was approved, but its written-ahead reversal could not be removed, so it is sent: %w",
		ErrOutcomeUnknown, x.orig.MTI, x.key, rerr)
}

// lateAnswer handles an answer nobody waits for: an echo, an answer to an
// attempt already abandoned, or the acknowledgement of a queued entry whose
// attempt timed out.
func (f *forwarder) lateAnswer(l *link, m *wire.Message) {
	if wire.OriginalMTI(m.MTI) == wire.MTINetworkResponse || notProcessed(m) {
		return
	}
	key := m.Key()
	f.st.late.Add(1)
	f.emit(Event{Kind: EventLateAnswer, Key: key, RC: m.ResponseCode, Addr: l.addr})
	f.log.Info("failover: late answer", "mti", m.MTI, "key", key, "rc", m.ResponseCode)
	if !acknowledges(m) {
		return // a refused reversal or advice stays queued
	}
	e, err := f.q.removeDue(key)
	if err != nil {
		f.log.Error("failover: queue", "err", err)
	}
	if e != nil { // removed, even if its card did not open
		f.acked(e, &e.Msg, m.ResponseCode)
	}
	// A late approval of an abandoned request: its reversal became due
	// before Do returned, so nothing more to do here.
}
