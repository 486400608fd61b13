package failover

import (
	"fmt"
	"math"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// enqueue stores e durably, then wakes the forwarder.
func (c *Client) enqueue(e *entry) error {
	if err := c.q.add(e); err != nil {
		return fmt.Errorf("queue %s for %s: %w", e.Msg.MTI, e.Of, err)
	}
	c.st.revQueued.Add(1)
	depth := int(c.st.queueDepth.Add(1))
	c.emit(Event{Kind: EventReversalQueued, Key: e.Of, QueueDepth: depth})
	c.log.Warn("failover: queued for store-and-forward", "mti", e.Msg.MTI, "of", e.Of, "key", e.Msg.Key())
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// forwardLoop sends the queue's entries, one at a time, oldest first; an
// entry that fails waits its own backoff while the others go on.
func (c *Client) forwardLoop() {
	defer c.bg.Done()
	due := make(map[uint64]time.Time)
	for {
		wait := c.forwardPass(due)
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
func (c *Client) forwardPass(due map[uint64]time.Time) time.Duration {
	entries, err := c.q.all()
	if err != nil {
		c.log.Error("failover: reversal queue unreadable", "err", err)
		return c.cfg.ReversalBackoffMin
	}
	c.reportQueue(entries)
	wait := c.cfg.ReversalBackoffMax
	live := make(map[uint64]bool, len(entries))
	for _, e := range entries {
		live[e.ID] = true
		if c.isClosed() {
			return wait
		}
		if t, ok := due[e.ID]; ok && time.Now().Before(t) {
			wait = min(wait, time.Until(t))
			continue
		}
		d := c.forwardOne(e)
		if d == 0 {
			delete(due, e.ID)
			delete(live, e.ID)
			continue
		}
		due[e.ID] = time.Now().Add(d)
		wait = min(wait, d)
	}
	for id := range due {
		if !live[id] {
			delete(due, id)
		}
	}
	if len(live) != len(entries) {
		c.reportQueue(nil)
	}
	return max(wait, time.Millisecond)
}

// forwardOne sends e once. It returns 0 once a node acknowledged it, else
// the delay before the next try.
func (c *Client) forwardOne(e *entry) time.Duration {
	ctx := c.bgctx
	l := c.current()
	if l == nil {
		if c.offline() {
			return c.cfg.ReversalBackoffMin
		}
		var err error
		if l, err = c.connect(ctx); err != nil {
			return c.cfg.ReversalBackoffMin
		}
	}
	key := e.Msg.Key()
	resp, wrote, err := l.roundTrip(ctx, &e.Msg, key, make(chan *wire.Message, 1), time.Now().Add(c.cfg.AttemptTimeout))
	switch {
	case err == nil && !notProcessed(resp):
		if err := c.q.remove(e.ID); err != nil {
			c.log.Error("failover: reversal queue", "err", err)
			return c.cfg.ReversalBackoffMin
		}
		c.acked(e, e.Attempts+1, resp.ResponseCode)
		return 0
	case err == nil || !wrote:
		// Not processed, or never left: try again soon, unchanged.
		return c.recheck()
	}
	if c.bgctx.Err() != nil {
		return c.cfg.ReversalBackoffMin // closing: not an attempt that failed
	}
	return c.forwardFailed(e, err)
}

// forwardFailed records an attempt without an answer: repeats from now on.
func (c *Client) forwardFailed(e *entry, err error) time.Duration {
	e.Attempts++
	e.Sent = true
	if !wire.IsRepeat(e.Msg.MTI) {
		e.Msg.MTI = e.Msg.MTI[:3] + "1"
	}
	if perr := c.q.put(e); perr != nil {
		c.log.Error("failover: reversal queue", "err", perr)
	}
	if e.Attempts == c.cfg.AlertAfter {
		c.emit(Event{Kind: EventAlert, Key: e.Of, Attempts: e.Attempts, Err: err})
		c.log.Error("failover: queued entry still unacknowledged", "mti", e.Msg.MTI, "of", e.Of, "attempts", e.Attempts, "err", err)
	}
	return c.reversalBackoff(e.Attempts)
}

// reversalBackoff is ReversalBackoffMin doubled per attempt up to
// ReversalBackoffMax, jittered.
func (c *Client) reversalBackoff(attempts int) time.Duration {
	d := float64(c.cfg.ReversalBackoffMin) * math.Pow(2, float64(attempts-1))
	if d > float64(c.cfg.ReversalBackoffMax) {
		d = float64(c.cfg.ReversalBackoffMax)
	}
	return jitter(time.Duration(d))
}

// acked reports e acknowledged with response code rc; e is already out of
// the queue.
func (c *Client) acked(e *entry, attempts int, rc string) {
	c.st.revAcked.Add(1)
	depth := int(c.st.queueDepth.Add(-1))
	msg := e.Msg
	c.emit(Event{Kind: EventReversalAcked, Key: e.Of, Msg: &msg, RC: rc, Attempts: attempts, QueueDepth: max(depth, 0)})
	c.log.Info("failover: queued entry acknowledged", "of", e.Of, "rc", rc)
}

// reportQueue publishes depth and oldest age; entries nil re-reads them.
func (c *Client) reportQueue(entries []*entry) {
	if entries == nil {
		var err error
		if entries, err = c.q.all(); err != nil {
			return
		}
	}
	var oldest time.Duration
	if len(entries) > 0 {
		oldest = time.Since(time.Unix(0, entries[0].Created))
	}
	prev := c.st.queueDepth.Swap(int64(len(entries)))
	c.st.queueOldest.Store(int64(oldest))
	if prev != int64(len(entries)) || len(entries) > 0 {
		c.emit(Event{Kind: EventQueue, QueueDepth: len(entries), OldestAge: oldest})
	}
}

// Queued describes one entry of the store-and-forward queue.
type Queued struct {
	MTI      string // 0400 (or 0401 once sent), or a queued advice/reversal
	Key      string // DE41 + DE11 + DE7 of the queued message
	Of       string // key of the request it settles
	Attempts int
	Age      time.Duration
}

// Queued lists the store-and-forward queue, oldest first.
func (c *Client) Queued() ([]Queued, error) {
	es, err := c.q.all()
	if err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	out := make([]Queued, len(es))
	for i, e := range es {
		out[i] = Queued{MTI: e.Msg.MTI, Key: e.Msg.Key(), Of: e.Of, Attempts: e.Attempts, Age: time.Since(time.Unix(0, e.Created))}
	}
	return out, nil
}
