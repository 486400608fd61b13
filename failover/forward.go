package failover

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// forwarder owns the durable store-and-forward queue: the entry written
// ahead of each request (writeahead.go), and the goroutine that sends the
// due entries, one at a time, until a node acknowledges each.
type forwarder struct {
	*core
	q *queue
	r *router // the link to send on

	wake     chan struct{} // the queue has a new due entry
	bgctx    context.Context
	bgcancel context.CancelFunc // stop: ends the forwarder's sends
	bg       sync.WaitGroup     // the forwarder goroutine
	depthMu  sync.Mutex         // one recount of the queue depth at a time (reportQueue)
}

func newForwarder(k *core, q *queue, r *router) *forwarder {
	f := &forwarder{core: k, q: q, r: r, wake: make(chan struct{}, 1)}
	f.bgctx, f.bgcancel = context.WithCancel(context.Background())
	return f
}

// start runs the forwarder goroutine.
func (f *forwarder) start() {
	f.bg.Add(1)
	go f.forwardLoop()
}

// stop ends the sends in flight; wait waits for the goroutine, which ends
// once Close has begun (core.closing).
func (f *forwarder) stop() { f.bgcancel() }

func (f *forwarder) wait() { f.bg.Wait() }

// closeQueue clears in the file the holds released since the last pass
// (the next Open would take them for a crash's leftovers) and closes it.
func (f *forwarder) closeQueue() error {
	_, perr := f.q.persistReleased()
	return errors.Join(perr, f.q.close())
}

// nowDue reports e due (written ahead and not settled by its Do, or left by
// a crash) and wakes the forwarder.
func (f *forwarder) nowDue(e *entry) {
	f.st.revQueued.Add(1)
	depth := f.reportQueue(nil)
	msg := e.Msg
	f.emit(Event{Kind: EventReversalQueued, Key: e.Of, Msg: &msg, QueueDepth: depth})
	f.log.Warn("failover: queued for store-and-forward", "mti", e.Msg.MTI, "of", e.Of, "key", e.Msg.Key())
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// forwardLoop sends the queue's due entries, one at a time, oldest first;
// an entry that fails waits its own backoff while the others go on.
func (f *forwarder) forwardLoop() {
	defer f.bg.Done()
	for {
		wait := f.forwardPass()
		t := time.NewTimer(wait)
		select {
		case <-f.closing:
			t.Stop()
			return
		case <-f.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// forwardPass tries every due entry once and returns how long to sleep.
func (f *forwarder) forwardPass() time.Duration {
	entries, err := f.q.all()
	if err != nil {
		f.log.Error("failover: reversal queue unreadable", "err", err)
		return f.cfg.ReversalBackoffMin
	}
	if _, err := f.q.clearHolds(entries); err != nil {
		f.log.Error("failover: reversal queue", "err", err)
	}
	f.reportQueue(nil)
	wait, acked := f.cfg.ReversalBackoffMax, false
	for _, e := range entries {
		if f.r.isClosed() {
			return wait
		}
		ok, later := f.q.due(e.ID)
		if !ok {
			if later > 0 {
				wait = min(wait, later)
			}
			continue
		}
		if d := f.forwardOne(e); d > 0 {
			wait = min(wait, d)
		} else {
			acked = true
		}
	}
	if acked {
		f.reportQueue(nil)
	}
	return max(wait, time.Millisecond)
}

// forwardOne sends e once. It returns 0 once e is acknowledged (or gone),
// else the delay before its next try.
func (f *forwarder) forwardOne(e *entry) time.Duration {
	l := f.r.current()
	if l == nil {
		if f.r.offline() {
			return f.cfg.ReversalBackoffMin
		}
		var err error
		if l, err = f.r.connect(f.bgctx); err != nil {
			return f.cfg.ReversalBackoffMin
		}
	}
	out := e.Msg
	if gone, err := f.beforeSend(e); err != nil {
		f.log.Error("failover: reversal queue", "err", err)
		return f.cfg.ReversalBackoffMin
	} else if gone {
		return 0
	}
	resp, wrote, err := l.roundTrip(f.bgctx, &out, out.Key(), make(chan *wire.Message, 1), time.Now().Add(f.cfg.AttemptTimeout))
	if err == nil && acknowledges(resp) {
		return f.forwardAcked(e, &out, resp.ResponseCode)
	}
	if f.bgctx.Err() != nil {
		return f.cfg.ReversalBackoffMin // closing: not an attempt that failed
	}
	if err == nil {
		err = refusal(resp)
	}
	return f.forwardFailed(e, &out, resp, wrote, err)
}

// beforeSend stores, before any byte of this try leaves, that bytes may
// have left: the attempt is counted and whatever goes next, after a
// failure or a restart, is the repeat (xx01). gone reports an entry an
// answer removed meanwhile: it must not be sent again.
func (f *forwarder) beforeSend(e *entry) (gone bool, err error) {
	e.Attempts++
	e.Sent, e.Held = true, false
	e.Msg.MTI = wire.RepeatMTI(e.Msg.MTI)
	found, err := f.q.update(e)
	return !found, err
}

// refusal is the cause of a try answered without an acknowledgement.
func refusal(resp *wire.Message) error {
	if notProcessed(resp) {
		return errNotProcessed
	}
	return fmt.Errorf("%w: %s", errNotAcked, resp.ResponseCode)
}

// forwardAcked removes an acknowledged entry. Only the removal that found
// it reports it: a late answer may have removed it first.
func (f *forwarder) forwardAcked(e *entry, sent *wire.Message, rc string) time.Duration {
	found, err := f.q.remove(e)
	if err != nil {
		f.log.Error("failover: reversal queue", "err", err)
		return f.cfg.ReversalBackoffMin
	}
	if found {
		f.acked(e, sent, rc)
	}
	return 0
}

// forwardFailed records a try that was not acknowledged (no answer, not
// processed, 30/91/96, or a message that cannot be packed) and returns the
// backoff before the next one: never a quick retry, so that a node that
// keeps refusing, or an entry that can never go, costs one try per backoff.
func (f *forwarder) forwardFailed(e *entry, sent, resp *wire.Message, wrote bool, err error) time.Duration {
	d := f.q.retryLater(e.ID, func(tries int) time.Duration { return f.reversalBackoff(max(tries, e.Attempts)) })
	rc := ""
	if resp != nil {
		rc = resp.ResponseCode
	}
	f.emit(Event{Kind: EventReversalRetry, Key: e.Of, Msg: sent, RC: rc, Attempts: e.Attempts, Retry: d, Err: err})
	f.log.Debug("failover: queued entry not acknowledged", "mti", sent.MTI, "of", e.Of, "rc", rc, "wrote", wrote, "retry", d, "err", err)
	if e.Attempts == f.cfg.AlertAfter {
		f.emit(Event{Kind: EventAlert, Key: e.Of, Attempts: e.Attempts, Err: err})
		f.log.Error("failover: queued entry still unacknowledged", "mti", e.Msg.MTI, "of", e.Of, "attempts", e.Attempts, "err", err)
	}
	return d
}

// reversalBackoff is ReversalBackoffMin doubled per attempt up to
// ReversalBackoffMax, jittered.
func (f *forwarder) reversalBackoff(attempts int) time.Duration {
	d := float64(f.cfg.ReversalBackoffMin) * math.Pow(2, float64(max(attempts, 1)-1))
	if d > float64(f.cfg.ReversalBackoffMax) {
		d = float64(f.cfg.ReversalBackoffMax)
	}
	return jitter(time.Duration(d))
}

// acked reports e acknowledged by rc (sent is the message that was
// answered); e is already out of the queue.
func (f *forwarder) acked(e *entry, sent *wire.Message, rc string) {
	f.st.revAcked.Add(1)
	depth := f.reportQueue(nil)
	msg := *sent
	f.emit(Event{Kind: EventReversalAcked, Key: e.Of, Msg: &msg, RC: rc, Attempts: e.Attempts, QueueDepth: max(depth, 0)})
	f.log.Info("failover: queued entry acknowledged", "of", e.Of, "rc", rc)
}

// reportQueue publishes, and returns, the depth and oldest age of the due
// entries (held ones are requests still in flight, not owed yet); entries
// nil re-reads them. The depth is always counted from the queue, never
// kept by increments: a count from an older read racing an
// acknowledgement left it stale (1 with nothing queued) for minutes.
func (f *forwarder) reportQueue(entries []*entry) int {
	f.depthMu.Lock()
	if entries == nil {
		var err error
		if entries, err = f.q.all(); err != nil {
			f.depthMu.Unlock()
			return int(f.st.queueDepth.Load())
		}
	}
	depth, oldest := f.dueOnly(entries)
	prev := f.st.queueDepth.Swap(int64(depth))
	f.st.queueOldest.Store(int64(oldest))
	f.depthMu.Unlock()
	if prev != int64(depth) || depth > 0 {
		f.emit(Event{Kind: EventQueue, QueueDepth: depth, OldestAge: oldest})
	}
	return depth
}

// dueOnly counts the entries no Do holds and the age of the oldest.
func (f *forwarder) dueOnly(entries []*entry) (depth int, oldest time.Duration) {
	for _, e := range entries {
		if f.q.isHeld(e.ID) {
			continue
		}
		if depth == 0 {
			oldest = time.Since(time.Unix(0, e.Created))
		}
		depth++
	}
	return depth, oldest
}

// Queued describes one entry of the store-and-forward queue.
type Queued struct {
	MTI      string // 0400 (or 0401 once sent), or a queued advice/reversal
	Key      string // DE41 + DE11 + DE7 of the queued message
	Of       string // key of the request it settles
	Attempts int
	Age      time.Duration
}

// queued lists the due entries, oldest first (Client.Queued).
func (f *forwarder) queued() ([]Queued, error) {
	es, err := f.q.all()
	if err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	out := make([]Queued, 0, len(es))
	for _, e := range es {
		if f.q.isHeld(e.ID) {
			continue
		}
		out = append(out, Queued{MTI: e.Msg.MTI, Key: e.Msg.Key(), Of: e.Of, Attempts: e.Attempts, Age: time.Since(time.Unix(0, e.Created))})
	}
	return out, nil
}
