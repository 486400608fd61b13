package failover

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// router finds and keeps the link to the active: the node list with a
// breaker per node, the one link new requests use, the DE48 hints that move
// it, and the client's state (connecting, online, holding, offline).
type router struct {
	*core
	// onLate takes an answer nobody waits for (the forwarder's lateAnswer).
	onLate func(l *link, m *wire.Message)

	dialSem chan struct{} // one connect pass at a time

	mu           sync.Mutex
	closed       bool
	state        State
	nodes        []*nodeState
	active       string // the address believed to be the active
	term         uint64 // newest Raft term seen in a hint
	cur          *link
	links        map[*link]struct{}
	offlineUntil int64       // monotonic nanos
	lostAt       int64       // monotonic nanos when the active link was lost; 0 when not
	probing      atomic.Bool // a background dial to the active is running (probeActive)
}

func newRouter(k *core) *router {
	r := &router{core: k, dialSem: make(chan struct{}, 1), links: make(map[*link]struct{}), active: k.cfg.Nodes[0]}
	for _, a := range k.cfg.Nodes {
		r.nodeFor(a)
	}
	return r
}

// close refuses new links from now on and returns those open, for Close
// to fail.
func (r *router) close() []*link {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	links := make([]*link, 0, len(r.links))
	for l := range r.links {
		links = append(links, l)
	}
	return links
}

// activeAddr returns the address believed to be the active.
func (r *router) activeAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active
}

// snapshot returns the state and the active, for Stats.
func (r *router) snapshot() (State, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state, r.active
}

// recovered reports, once, how long ago the link to the active was lost,
// when it was: a request just got its answer, so the failover is over.
func (r *router) recovered() (time.Duration, bool) {
	r.mu.Lock()
	lost := r.lostAt
	r.lostAt = 0
	r.mu.Unlock()
	if lost == 0 {
		return 0, false
	}
	return time.Duration(r.now() - lost), true
}

func (r *router) setState(s State) {
	r.mu.Lock()
	old := r.state
	r.state = s
	r.mu.Unlock()
	if old != s {
		r.emit(Event{Kind: EventState, State: s})
		r.log.Debug("failover: state", "from", old, "to", s)
	}
}

// nodeState is one node's breaker. Guarded by router.mu.
type nodeState struct {
	addr     string
	failures int   // consecutive
	open     bool  // breaker open: only probes (dial + echo) until retryAt
	retryAt  int64 // monotonic nanos
	// noActiveAt is when the node last said it knows no active (DE48 NA):
	// cut off from its peers, or between two leaders. Until RecheckMax
	// later, another node is tried first.
	noActiveAt int64
	// lostAt is when a link to the node was last lost, or a dial to it
	// failed: for suspectFor after that, every other node is tried first
	// (a standby's hint may name it again while it is still out of reach:
	// dialling it first would cost a request the whole dial timeout).
	lostAt int64
}

// suspectFor is how long a node whose link was lost is tried last.
func (r *router) suspectFor() time.Duration { return 2 * r.cfg.DialTimeout }

// lostRecently reports a node lost within suspectFor. Called with r.mu
// held.
func (r *router) lostRecently(n *nodeState, now int64) bool {
	return n.lostAt != 0 && now-n.lostAt < int64(r.suspectFor())
}

// nodeFor returns addr's state, adding it to the list if it is not there
// (newRouter builds the list from Config.Nodes; hints name only those).
// Called with r.mu held (or before the router is shared).
func (r *router) nodeFor(addr string) *nodeState {
	for _, n := range r.nodes {
		if n.addr == addr {
			return n
		}
	}
	n := &nodeState{addr: addr}
	r.nodes = append(r.nodes, n)
	return n
}

// configured reports addr in the node list (Config.Nodes). Called with
// r.mu held.
func (r *router) configured(addr string) bool {
	for _, n := range r.nodes {
		if n.addr == addr {
			return true
		}
	}
	return false
}

// current returns the live link to the active, if any.
func (r *router) current() *link {
	r.mu.Lock()
	l := r.cur
	r.mu.Unlock()
	if l != nil && l.alive() {
		return l
	}
	return nil
}

func (r *router) offline() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.offlineUntil != 0 && r.now() < r.offlineUntil
}

// link returns a connection to the active, connecting when needed. While no
// node can be reached it holds: a new request (sent false) up to Hold, then
// the client goes offline; a request already sent until until.
func (r *router) link(ctx context.Context, sent bool, until time.Time) (*link, error) {
	var holdEnd time.Time
	for {
		if l := r.current(); l != nil {
			return l, nil
		}
		if r.isClosed() {
			return nil, ErrClosed
		}
		if !sent && r.offline() {
			return nil, ErrOffline
		}
		l, err := r.connect(ctx)
		if err == nil {
			return l, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return nil, err
		}
		if !sent && r.offline() { // every breaker opened on this pass
			return nil, fmt.Errorf("%w: %w", ErrOffline, err)
		}
		now := time.Now()
		if holdEnd.IsZero() {
			holdEnd = now.Add(r.cfg.Hold)
		}
		end := until
		if !sent {
			end = minTime(holdEnd, until)
		}
		if !now.Before(end) {
			if !sent {
				r.goOffline()
			}
			return nil, err
		}
		r.setState(StateHolding)
		r.sleep(ctx, r.recheck(), end)
	}
}

func (r *router) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// connect makes one pass over the nodes, the active first, and installs
// the best link: the active's, else any node's (a standby relays or names
// the active).
func (r *router) connect(ctx context.Context) (*link, error) {
	select {
	case r.dialSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.closing:
		return nil, ErrClosed
	}
	defer func() { <-r.dialSem }()
	if l := r.current(); l != nil {
		return l, nil
	}
	tried := make(map[string]bool, len(r.nodes))
	var best *link
	var lastErr error
	for {
		addr, probe, active := r.pick(tried)
		if addr == "" || (best != nil && (!active || r.suspect(addr)) && !r.saidNoActive(best.addr)) {
			break // a good link already; the lost active is probed in the background (hint)
		}
		tried[addr] = true
		r.setState(StateConnecting)
		l, err := r.dial(ctx, addr, probe)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil || r.isClosed() {
				break // the caller's deadline or Close, not the node's failure
			}
			r.nodeFailed(addr, err)
			continue
		}
		r.nodeOK(addr)
		// A node that knows no active (its sign-on said so) is kept only
		// until one that does answers.
		lost := r.saidNoActive(addr)
		if best != nil && lost {
			l.drain()
			continue
		}
		if best != nil {
			best.drain()
		}
		best = l
		if r.activeAddr() == addr && !lost {
			break
		}
	}
	if best == nil {
		if lastErr == nil {
			lastErr = errors.New("every breaker is open")
		}
		return nil, fmt.Errorf("%w: %w", errNoNode, lastErr)
	}
	r.install(best)
	return best, nil
}

// pick returns the next node to try: the active if untried and allowed,
// else the next allowed node after it. probe says its breaker is open.
func (r *router) pick(tried map[string]bool) (addr string, probe, isActive bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	start := 0
	for i, n := range r.nodes {
		if n.addr == r.active {
			start = i
		}
	}
	// Three rounds: nodes that lately said they know no active, then
	// nodes lately lost, go last.
	for round := range 3 {
		for k := range r.nodes {
			n := r.nodes[(start+k)%len(r.nodes)]
			if tried[n.addr] || (n.open && now < n.retryAt) || r.rank(n, now) != round {
				continue
			}
			return n.addr, n.open, n.addr == r.active
		}
	}
	return "", false, false
}

// rank orders nodes for connecting: 0 fine, 1 said lately it knows no
// active, 2 lately lost. Called with r.mu held.
func (r *router) rank(n *nodeState, now int64) int {
	switch {
	case r.lostRecently(n, now):
		return 2
	case r.knowsNoActive(n, now):
		return 1
	}
	return 0
}

// suspect reports whether addr was lately lost.
func (r *router) suspect(addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lostRecently(r.nodeFor(addr), r.now())
}

// sawNoActive notes that addr said it knows no active.
func (r *router) sawNoActive(addr string) {
	r.mu.Lock()
	r.nodeFor(addr).noActiveAt = r.now()
	r.mu.Unlock()
}

// saidNoActive reports whether addr lately said it knows no active.
func (r *router) saidNoActive(addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.knowsNoActive(r.nodeFor(addr), r.now())
}

// knowsNoActive reports a node that said lately it knows no active. Called
// with r.mu held.
func (r *router) knowsNoActive(n *nodeState, now int64) bool {
	return n.noActiveAt != 0 && now-n.noActiveAt < int64(r.cfg.RecheckMax)
}

// noActive handles an answer of l's node saying it knows no active: the
// node is remembered as such, and, unless another node says so too, the
// client leaves it: the next request (or repeat) goes to the next node,
// whose answers name the active. Requests waiting on l stay (their answer
// may still come). It reports whether every node lately said the same:
// then there is no one better to ask, and the caller should wait.
func (r *router) noActive(l *link) (everyNode bool) {
	r.sawNoActive(l.addr)
	r.mu.Lock()
	now := r.now()
	everyNode = true
	for _, n := range r.nodes {
		everyNode = everyNode && r.knowsNoActive(n, now)
	}
	leave := !everyNode && r.cur == l
	if leave {
		r.cur = nil
		if r.lostAt == 0 {
			r.lostAt = now // a failover: counted when an answer comes
		}
		if r.active == l.addr {
			r.active = r.nextAfter(l.addr)
		}
	}
	r.mu.Unlock()
	if leave {
		r.log.Info("failover: node knows no active: asking another", "node", l.addr)
		l.drain()
	}
	return everyNode
}

// dial connects to addr and signs on (an echo when probing an open
// breaker); the answer's hint may name another active.
func (r *router) dial(ctx context.Context, addr string, probe bool) (*link, error) {
	r.st.dials.Add(1)
	d := &net.Dialer{Timeout: r.cfg.DialTimeout}
	var nc net.Conn
	var err error
	if r.cfg.TLS != nil {
		// The handshake within DialTimeout too; ServerName, if empty, is
		// addr's host.
		nc, err = (&tls.Dialer{NetDialer: d, Config: r.cfg.TLS}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		r.st.dialFailures.Add(1)
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	l := newLink(r, addr, nc)
	if !r.track(l) {
		l.fail(ErrClosed)
		return nil, ErrClosed
	}
	code := wire.NetSignOn
	if probe {
		code = wire.NetEcho
	}
	m := r.netMessage(code)
	resp, _, err := l.roundTrip(ctx, m, m.Key(), make(chan *wire.Message, 1), time.Now().Add(r.cfg.DialTimeout))
	if err == nil && resp.ResponseCode != wire.RCApproved {
		err = fmt.Errorf("sign-on answered %s", resp.ResponseCode)
	}
	if err != nil {
		r.st.dialFailures.Add(1)
		l.fail(err)
		return nil, fmt.Errorf("sign on %s: %w", addr, err)
	}
	return l, nil
}

// track adds l to the links Close will close.
func (r *router) track(l *link) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.links[l] = struct{}{}
	return true
}

// install makes l the link new requests use.
func (r *router) install(l *link) {
	r.mu.Lock()
	old := r.cur
	r.cur = l
	r.offlineUntil = 0
	r.mu.Unlock()
	if old != nil && old != l {
		old.drain()
	}
	r.setState(StateOnline)
}

// hint follows DE48 AN/TM of an answer: a newer or equal term naming
// another address moves the client there and drains the old link.
func (r *router) hint(l *link, m *wire.Message) {
	an, _ := m.Private.Get(wire.TagActiveAddr)
	if an == "" {
		return
	}
	var term uint64
	if tm, ok := m.Private.Get(wire.TagTerm); ok {
		term, _ = strconv.ParseUint(tm, 10, 64)
	}
	r.mu.Lock()
	if !r.configured(an) {
		r.mu.Unlock()
		// Only the configured nodes are followed: a hint is data from
		// the network, and following it to an address the register was
		// not given would hand its card data to whoever wrote it.
		r.st.hintsIgnored.Add(1)
		r.log.Warn("failover: hint names a node not in the configured list: ignored", "hint", an, "term", term, "told_by", l.addr)
		return
	}
	if term < r.term || an == r.active {
		if term > r.term {
			r.term = term
		}
		back := an == r.active && r.cur != nil && r.cur.addr != an && !r.lostRecently(r.nodeFor(an), r.now())
		r.mu.Unlock()
		if back {
			r.probeActive(an)
		}
		return
	}
	r.term = term
	r.active = an
	n := r.nodeFor(an)
	var old *link
	// A node just lost stays out of the way while the link in use works:
	// probeActive brings the client back once it answers.
	if r.cur != nil && r.cur.addr != an && !r.lostRecently(n, r.now()) {
		old = r.cur
		r.cur = nil
	}
	r.mu.Unlock()
	r.emit(Event{Kind: EventActive, Addr: an})
	r.log.Info("failover: active moved", "active", an, "term", term, "told_by", l.addr)
	if old != nil {
		old.drain()
	}
}

// probeActive dials the active in the background while requests go
// through another node (a standby relays them), and moves there once it
// answers; a failed dial marks it lost again. One probe at a time.
func (r *router) probeActive(addr string) {
	if !r.probing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer r.probing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.DialTimeout)
		defer cancel()
		l, err := r.dial(ctx, addr, false)
		if err != nil {
			r.nodeFailed(addr, err)
			return
		}
		r.nodeOK(addr)
		if r.activeAddr() != addr || r.saidNoActive(addr) {
			l.drain()
			return
		}
		r.log.Info("failover: the active answers again: back to it", "active", addr)
		r.install(l)
	}()
}

// linkDown is called once per link when it closes.
func (r *router) linkDown(l *link, err error) {
	r.mu.Lock()
	delete(r.links, l)
	wasCur := r.cur == l
	if wasCur {
		r.cur = nil
	}
	unplanned := wasCur && !r.closed && !errors.Is(err, errDrained)
	if unplanned {
		if r.lostAt == 0 {
			r.lostAt = r.now()
		}
		if r.active == l.addr {
			r.active = r.nextAfter(l.addr)
		}
	}
	r.mu.Unlock()
	if unplanned {
		r.log.Warn("failover: connection to the active lost", "node", l.addr, "err", err)
		r.nodeFailed(l.addr, err)
		r.setState(StateConnecting)
	}
}

// nextAfter is the configured node after addr. Called with r.mu held.
func (r *router) nextAfter(addr string) string {
	for i, n := range r.nodes {
		if n.addr == addr {
			return r.nodes[(i+1)%len(r.nodes)].addr
		}
	}
	return r.nodes[0].addr
}

// nodeFailed counts a failure; the breaker opens at BreakerFailures and the
// client goes offline when every breaker is open.
func (r *router) nodeFailed(addr string, err error) {
	r.mu.Lock()
	n := r.nodeFor(addr)
	n.failures++
	n.lostAt = r.now()
	opened := false
	allOpen := false
	if n.failures >= r.cfg.BreakerFailures {
		opened = !n.open
		n.open = true
		n.retryAt = r.now() + int64(r.backoff(n.failures-r.cfg.BreakerFailures))
		allOpen = true
		for _, o := range r.nodes {
			allOpen = allOpen && o.open
		}
	}
	r.mu.Unlock()
	if opened {
		r.st.breakersOpen.Add(1)
		r.emit(Event{Kind: EventBreaker, Addr: addr, Open: true, Err: err})
		r.log.Warn("failover: breaker open", "node", addr, "err", err)
	}
	if allOpen {
		r.goOffline()
	}
}

func (r *router) nodeOK(addr string) {
	r.mu.Lock()
	n := r.nodeFor(addr)
	closed := n.open
	n.failures, n.open, n.retryAt, n.lostAt = 0, false, 0, 0
	r.mu.Unlock()
	if closed {
		r.st.breakersOpen.Add(-1)
		r.emit(Event{Kind: EventBreaker, Addr: addr, Open: false})
		r.log.Info("failover: breaker closed", "node", addr)
	}
}

// goOffline fails new requests fast until a probe OfflineProbe ±20% later.
func (r *router) goOffline() {
	r.mu.Lock()
	until := r.now() + int64(jitter(r.cfg.OfflineProbe))
	r.offlineUntil = until
	for _, n := range r.nodes {
		if n.open && n.retryAt > until {
			n.retryAt = until
		}
	}
	r.mu.Unlock()
	r.setState(StateOffline)
}

// backoff is the reconnect delay after k failures past the breaker's
// threshold: BackoffMin × BackoffFactor^k up to BackoffMax, jittered.
func (r *router) backoff(k int) time.Duration {
	d := float64(r.cfg.BackoffMin) * math.Pow(r.cfg.BackoffFactor, float64(k))
	if d > float64(r.cfg.BackoffMax) {
		d = float64(r.cfg.BackoffMax)
	}
	return jitter(time.Duration(d))
}
