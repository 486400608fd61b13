package failover

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// nodeState is one node's breaker. Guarded by Client.mu.
type nodeState struct {
	addr     string
	failures int   // consecutive
	open     bool  // breaker open: only probes (dial + echo) until retryAt
	retryAt  int64 // monotonic nanos
	// noActiveAt is when the node last said it knows no active (DE48 NA):
	// cut off from its peers, or between two leaders. Until RecheckMax
	// later, another node is tried first.
	noActiveAt int64
}

// nodeFor returns addr's state, adding a node learned from a hint.
// Called with c.mu held (or before the client is shared).
func (c *Client) nodeFor(addr string) *nodeState {
	for _, n := range c.nodes {
		if n.addr == addr {
			return n
		}
	}
	n := &nodeState{addr: addr}
	c.nodes = append(c.nodes, n)
	return n
}

// current returns the live link to the active, if any.
func (c *Client) current() *link {
	c.mu.Lock()
	l := c.cur
	c.mu.Unlock()
	if l != nil && l.alive() {
		return l
	}
	return nil
}

func (c *Client) offline() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offlineUntil != 0 && c.now() < c.offlineUntil
}

// link returns a connection to the active, connecting when needed. While no
// node can be reached it holds: a new request (sent false) up to Hold, then
// the client goes offline; a request already sent until until.
func (c *Client) link(ctx context.Context, sent bool, until time.Time) (*link, error) {
	var holdEnd time.Time
	for {
		if l := c.current(); l != nil {
			return l, nil
		}
		if c.isClosed() {
			return nil, ErrClosed
		}
		if !sent && c.offline() {
			return nil, ErrOffline
		}
		l, err := c.connect(ctx)
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return nil, err
		}
		if !sent && c.offline() { // every breaker opened on this pass
			return nil, fmt.Errorf("%w: %w", ErrOffline, err)
		}
		now := time.Now()
		if holdEnd.IsZero() {
			holdEnd = now.Add(c.cfg.Hold)
		}
		end := until
		if !sent {
			end = minTime(holdEnd, until)
		}
		if !now.Before(end) {
			if !sent {
				c.goOffline()
			}
			return nil, err
		}
		c.setState(StateHolding)
		c.sleep(ctx, c.recheck(), end)
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// connect makes one pass over the nodes, the active first, and installs
// the best link: the active's, else any node's (a standby relays or names
// the active).
func (c *Client) connect(ctx context.Context) (*link, error) {
	select {
	case c.dialSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closing:
		return nil, ErrClosed
	}
	defer func() { <-c.dialSem }()
	if l := c.current(); l != nil {
		return l, nil
	}
	tried := make(map[string]bool, len(c.nodes))
	var best *link
	var lastErr error
	for {
		addr, probe, active := c.pick(tried)
		if addr == "" || (best != nil && !active && !c.saidNoActive(best.addr)) {
			break
		}
		tried[addr] = true
		c.setState(StateConnecting)
		l, err := c.dial(ctx, addr, probe)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil || c.isClosed() {
				break // the caller's deadline or Close, not the node's failure
			}
			c.nodeFailed(addr, err)
			continue
		}
		c.nodeOK(addr)
		// A node that knows no active (its sign-on said so) is kept only
		// until one that does answers.
		lost := c.saidNoActive(addr)
		if best != nil && lost {
			l.drain()
			continue
		}
		if best != nil {
			best.drain()
		}
		best = l
		if c.Active() == addr && !lost {
			break
		}
	}
	if best == nil {
		if lastErr == nil {
			lastErr = errors.New("every breaker is open")
		}
		return nil, fmt.Errorf("%w: %w", errNoNode, lastErr)
	}
	c.install(best)
	return best, nil
}

// pick returns the next node to try: the active if untried and allowed,
// else the next allowed node after it. probe says its breaker is open.
func (c *Client) pick(tried map[string]bool) (addr string, probe, isActive bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	start := 0
	for i, n := range c.nodes {
		if n.addr == c.active {
			start = i
		}
	}
	// Two rounds: nodes that lately said they know no active go last.
	for _, lost := range []bool{false, true} {
		for k := range c.nodes {
			n := c.nodes[(start+k)%len(c.nodes)]
			if tried[n.addr] || (n.open && now < n.retryAt) || c.knowsNoActive(n, now) != lost {
				continue
			}
			return n.addr, n.open, n.addr == c.active
		}
	}
	return "", false, false
}

// sawNoActive notes that addr said it knows no active.
func (c *Client) sawNoActive(addr string) {
	c.mu.Lock()
	c.nodeFor(addr).noActiveAt = c.now()
	c.mu.Unlock()
}

// saidNoActive reports whether addr lately said it knows no active.
func (c *Client) saidNoActive(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.knowsNoActive(c.nodeFor(addr), c.now())
}

// knowsNoActive reports a node that said lately it knows no active. Called
// with c.mu held.
func (c *Client) knowsNoActive(n *nodeState, now int64) bool {
	return n.noActiveAt != 0 && now-n.noActiveAt < int64(c.cfg.RecheckMax)
}

// noActive handles an answer of l's node saying it knows no active: the
// node is remembered as such, and, unless another node says so too, the
// client leaves it: the next request (or repeat) goes to the next node,
// whose answers name the active. Requests waiting on l stay (their answer
// may still come). It reports whether every node lately said the same:
// then there is no one better to ask, and the caller should wait.
func (c *Client) noActive(l *link) (everyNode bool) {
	c.sawNoActive(l.addr)
	c.mu.Lock()
	now := c.now()
	everyNode = true
	for _, n := range c.nodes {
		everyNode = everyNode && c.knowsNoActive(n, now)
	}
	leave := !everyNode && c.cur == l
	if leave {
		c.cur = nil
		if c.active == l.addr {
			c.active = c.nextAfter(l.addr)
		}
	}
	c.mu.Unlock()
	if leave {
		c.log.Info("failover: node knows no active: asking another", "node", l.addr)
		l.drain()
	}
	return everyNode
}

// dial connects to addr and signs on (an echo when probing an open
// breaker); the answer's hint may name another active.
func (c *Client) dial(ctx context.Context, addr string, probe bool) (*link, error) {
	c.st.dials.Add(1)
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		c.st.dialFailures.Add(1)
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	l := newLink(c, addr, nc)
	if !c.track(l) {
		l.fail(ErrClosed)
		return nil, ErrClosed
	}
	code := wire.NetSignOn
	if probe {
		code = wire.NetEcho
	}
	m := c.netMessage(code)
	resp, _, err := l.roundTrip(ctx, m, m.Key(), make(chan *wire.Message, 1), time.Now().Add(c.cfg.DialTimeout))
	if err == nil && resp.ResponseCode != wire.RCApproved {
		err = fmt.Errorf("sign-on answered %s", resp.ResponseCode)
	}
	if err != nil {
		c.st.dialFailures.Add(1)
		l.fail(err)
		return nil, fmt.Errorf("sign on %s: %w", addr, err)
	}
	return l, nil
}

// track adds l to the links Close will close.
func (c *Client) track(l *link) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.links[l] = struct{}{}
	return true
}

// install makes l the link new requests use.
func (c *Client) install(l *link) {
	c.mu.Lock()
	old := c.cur
	c.cur = l
	c.offlineUntil = 0
	c.mu.Unlock()
	if old != nil && old != l {
		old.drain()
	}
	c.setState(StateOnline)
}

// hint follows DE48 AN/TM of an answer: a newer or equal term naming
// another address moves the client there and drains the old link.
func (c *Client) hint(l *link, m *wire.Message) {
	an, _ := m.Private.Get(wire.TagActiveAddr)
	if an == "" {
		return
	}
	var term uint64
	if tm, ok := m.Private.Get(wire.TagTerm); ok {
		term, _ = strconv.ParseUint(tm, 10, 64)
	}
	c.mu.Lock()
	if term < c.term || an == c.active {
		if term > c.term {
			c.term = term
		}
		c.mu.Unlock()
		return
	}
	c.term = term
	c.active = an
	c.nodeFor(an)
	var old *link
	if c.cur != nil && c.cur.addr != an {
		old = c.cur
		c.cur = nil
	}
	c.mu.Unlock()
	c.emit(Event{Kind: EventActive, Addr: an})
	c.log.Info("failover: active moved", "active", an, "term", term, "told_by", l.addr)
	if old != nil {
		old.drain()
	}
}

// linkDown is called once per link when it closes.
func (c *Client) linkDown(l *link, err error) {
	c.mu.Lock()
	delete(c.links, l)
	wasCur := c.cur == l
	if wasCur {
		c.cur = nil
	}
	unplanned := wasCur && !c.closed && !errors.Is(err, errDrained)
	if unplanned {
		if c.lostAt == 0 {
			c.lostAt = c.now()
		}
		if c.active == l.addr {
			c.active = c.nextAfter(l.addr)
		}
	}
	c.mu.Unlock()
	if unplanned {
		c.log.Warn("failover: connection to the active lost", "node", l.addr, "err", err)
		c.nodeFailed(l.addr, err)
		c.setState(StateConnecting)
	}
}

// nextAfter is the configured node after addr. Called with c.mu held.
func (c *Client) nextAfter(addr string) string {
	for i, n := range c.nodes {
		if n.addr == addr {
			return c.nodes[(i+1)%len(c.nodes)].addr
		}
	}
	return c.nodes[0].addr
}

// nodeFailed counts a failure; the breaker opens at BreakerFailures and the
// client goes offline when every breaker is open.
func (c *Client) nodeFailed(addr string, err error) {
	c.mu.Lock()
	n := c.nodeFor(addr)
	n.failures++
	opened := false
	allOpen := false
	if n.failures >= c.cfg.BreakerFailures {
		opened = !n.open
		n.open = true
		n.retryAt = c.now() + int64(c.backoff(n.failures-c.cfg.BreakerFailures))
		allOpen = true
		for _, o := range c.nodes {
			allOpen = allOpen && o.open
		}
	}
	c.mu.Unlock()
	if opened {
		c.st.breakersOpen.Add(1)
		c.emit(Event{Kind: EventBreaker, Addr: addr, Open: true, Err: err})
		c.log.Warn("failover: breaker open", "node", addr, "err", err)
	}
	if allOpen {
		c.goOffline()
	}
}

func (c *Client) nodeOK(addr string) {
	c.mu.Lock()
	n := c.nodeFor(addr)
	closed := n.open
	n.failures, n.open, n.retryAt = 0, false, 0
	c.mu.Unlock()
	if closed {
		c.st.breakersOpen.Add(-1)
		c.emit(Event{Kind: EventBreaker, Addr: addr, Open: false})
		c.log.Info("failover: breaker closed", "node", addr)
	}
}

// goOffline fails new requests fast until a probe OfflineProbe ±20% later.
func (c *Client) goOffline() {
	c.mu.Lock()
	until := c.now() + int64(jitter(c.cfg.OfflineProbe))
	c.offlineUntil = until
	for _, n := range c.nodes {
		if n.open && n.retryAt > until {
			n.retryAt = until
		}
	}
	c.mu.Unlock()
	c.setState(StateOffline)
}

// backoff is the reconnect delay after k failures past the breaker's
// threshold: BackoffMin × BackoffFactor^k up to BackoffMax, jittered.
func (c *Client) backoff(k int) time.Duration {
	d := float64(c.cfg.BackoffMin) * math.Pow(c.cfg.BackoffFactor, float64(k))
	if d > float64(c.cfg.BackoffMax) {
		d = float64(c.cfg.BackoffMax)
	}
	return jitter(time.Duration(d))
}
