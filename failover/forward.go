package failover

import (
	"fmt"
	"math"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// nowDue reports e due (written ahead and not settled by its Do, or left by
// a crash) and wakes the forwarder.
func (c *Client) nowDue(e *entry) {
	c.st.revQueued.Add(1)
	depth := c.reportQueue(nil)
	msg := e.Msg
	c.emit(Event{Kind: EventReversalQueued, Key: e.Of, Msg: &msg, QueueDepth: depth})
	c.log.Warn("failover: queued for store-and-forward", "mti", e.Msg.MTI, "of", e.Of, "key", e.Msg.Key())
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// forwardLoop sends the queue's due entries, one at a time, oldest first;
// an entry that fails waits its own backoff while the others go on.
func (c *Client) forwardLoop() {
	defer c.bg.Done()
	for {
		wait := c.forwardPass()
		t := time.NewTimer(wait)
		select {
		case <-c.closing:
			t.Stop()
			return
		case <-c.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// forwardPass tries every due entry once and returns how long to sleep.
func (c *Client) forwardPass() time.Duration {
	entries, err := c.q.all()
	if err != nil {
		c.log.Error("failover: reversal queue unreadable", "err", err)
		return c.cfg.ReversalBackoffMin
	}
	if _, err := c.q.clearHolds(entries); err != nil {
		c.log.Error("failover: reversal queue", "err", err)
	}
	c.reportQueue(nil)
	wait, acked := c.cfg.ReversalBackoffMax, false
	for _, e := range entries {
		if c.isClosed() {
			return wait
		}
		ok, later := c.q.due(e.ID)
		if !ok {
			if later > 0 {
				wait = min(wait, later)
			}
			continue
		}
		if d := c.forwardOne(e); d > 0 {
			wait = min(wait, d)
		} else {
			acked = true
		}
	}
	if acked {
		c.reportQueue(nil)
	}
	return max(wait, time.Millisecond)
}

// forwardOne sends e once. It returns 0 once e is acknowledged (or gone),
// else the delay before its next try.
func (c *Client) forwardOne(e *entry) time.Duration {
	l := c.current()
	if l == nil {
		if c.offline() {
			return c.cfg.ReversalBackoffMin
		}
		var err error
		if l, err = c.connect(c.bgctx); err != nil {
			return c.cfg.ReversalBackoffMin
		}
	}
	out := e.Msg
	if gone, err := c.beforeSend(e); err != nil {
		c.log.Error("failover: reversal queue", "err", err)
		return c.cfg.ReversalBackoffMin
	} else if gone {
		return 0
	}
	resp, wrote, err := l.roundTrip(c.bgctx, &out, out.Key(), make(chan *wire.Message, 1), time.Now().Add(c.cfg.AttemptTimeout))
	if err == nil && acknowledges(resp) {
		return c.forwardAcked(e, &out, resp.ResponseCode)
	}
	if c.bgctx.Err() != nil {
		return c.cfg.ReversalBackoffMin // closing: not an attempt that failed
	}
	if err == nil {
		err = refusal(resp)
	}
	return c.forwardFailed(e, &out, resp, wrote, err)
}

// beforeSend stores, before any byte of this try leaves, that bytes may
// have left: the attempt is counted and whatever goes next, after a
// failure or a restart, is the repeat (xx01). gone reports an entry an
// answer removed meanwhile: it must not be sent again.
func (c *Client) beforeSend(e *entry) (gone bool, err error) {
	e.Attempts++
	e.Sent, e.Held = true, false
	e.Msg.MTI = wire.RepeatMTI(e.Msg.MTI)
	found, err := c.q.update(e)
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
func (c *Client) forwardAcked(e *entry, sent *wire.Message, rc string) time.Duration {
	found, err := c.q.remove(e)
	if err != nil {
		c.log.Error("failover: reversal queue", "err", err)
		return c.cfg.ReversalBackoffMin
	}
	if found {
		c.acked(e, sent, rc)
	}
	return 0
}

// forwardFailed records a try that was not acknowledged (no answer, not
// processed, 30/91/96, or a message that cannot be packed) and returns the
// backoff before the next one: never a quick retry, so that a node that
// keeps refusing, or an entry that can never go, costs one try per backoff.
func (c *Client) forwardFailed(e *entry, sent, resp *wire.Message, wrote bool, err error) time.Duration {
	d := c.q.retryLater(e.ID, func(tries int) time.Duration { return c.reversalBackoff(max(tries, e.Attempts)) })
	rc := ""
	if resp != nil {
		rc = resp.ResponseCode
	}
	c.emit(Event{Kind: EventReversalRetry, Key: e.Of, Msg: sent, RC: rc, Attempts: e.Attempts, Retry: d, Err: err})
	c.log.Debug("failover: queued entry not acknowledged", "mti", sent.MTI, "of", e.Of, "rc", rc, "wrote", wrote, "retry", d, "err", err)
	if e.Attempts == c.cfg.AlertAfter {
		c.emit(Event{Kind: EventAlert, Key: e.Of, Attempts: e.Attempts, Err: err})
		c.log.Error("failover: queued entry still unacknowledged", "mti", e.Msg.MTI, "of", e.Of, "attempts", e.Attempts, "err", err)
	}
	return d
}

// reversalBackoff is ReversalBackoffMin doubled per attempt up to
// ReversalBackoffMax, jittered.
func (c *Client) reversalBackoff(attempts int) time.Duration {
	d := float64(c.cfg.ReversalBackoffMin) * math.Pow(2, float64(max(attempts, 1)-1))
	if d > float64(c.cfg.ReversalBackoffMax) {
		d = float64(c.cfg.ReversalBackoffMax)
	}
	return jitter(time.Duration(d))
}

// acked reports e acknowledged by rc (sent is the message that was
// answered); e is already out of the queue.
func (c *Client) acked(e *entry, sent *wire.Message, rc string) {
	c.st.revAcked.Add(1)
	depth := c.reportQueue(nil)
	msg := *sent
	c.emit(Event{Kind: EventReversalAcked, Key: e.Of, Msg: &msg, RC: rc, Attempts: e.Attempts, QueueDepth: max(depth, 0)})
	c.log.Info("failover: queued entry acknowledged", "of", e.Of, "rc", rc)
}

// reportQueue publishes, and returns, the depth and oldest age of the due
// entries (held ones are requests still in flight, not owed yet); entries
// nil re-reads them. The depth is always counted from the queue, never
// kept by increments: a count from an older read racing an
// acknowledgement left it stale (1 with nothing queued) for minutes.
func (c *Client) reportQueue(entries []*entry) int {
	c.depthMu.Lock()
	if entries == nil {
		var err error
		if entries, err = c.q.all(); err != nil {
			c.depthMu.Unlock()
			return int(c.st.queueDepth.Load())
		}
	}
	depth, oldest := c.dueOnly(entries)
	prev := c.st.queueDepth.Swap(int64(depth))
	c.st.queueOldest.Store(int64(oldest))
	c.depthMu.Unlock()
	if prev != int64(depth) || depth > 0 {
		c.emit(Event{Kind: EventQueue, QueueDepth: depth, OldestAge: oldest})
	}
	return depth
}

// dueOnly counts the entries no Do holds and the age of the oldest.
func (c *Client) dueOnly(entries []*entry) (depth int, oldest time.Duration) {
	for _, e := range entries {
		if c.q.isHeld(e.ID) {
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

// Queued lists the store-and-forward queue, oldest first: the due entries,
// not those written ahead of requests still in flight.
func (c *Client) Queued() ([]Queued, error) {
	es, err := c.q.all()
	if err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	out := make([]Queued, 0, len(es))
	for _, e := range es {
		if c.q.isHeld(e.ID) {
			continue
		}
		out = append(out, Queued{MTI: e.Msg.MTI, Key: e.Msg.Key(), Of: e.Of, Attempts: e.Attempts, Age: time.Since(time.Unix(0, e.Created))})
	}
	return out, nil
}
