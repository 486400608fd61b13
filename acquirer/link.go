package acquirer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/wire"
)

// Errors of Send. ErrUnavailable is the only one that guarantees the
// acquirer never saw the request; every other failure after the frame
// was queued means the outcome is unknown.
var (
	// ErrUnavailable: no connection was up, or the connection failed before
	// any byte of the frame was written. Safe to decline or retry.
	ErrUnavailable = errors.New("acquirer: unavailable, request not sent")
	// ErrTimeout: no answer within Config.Timeout or before the context
	// ended. The request was written (or queued to be): outcome unknown.
	ErrTimeout = errors.New("acquirer: timeout, outcome unknown")
	// ErrConnLost: the connection died after the request was written.
	// Outcome unknown.
	ErrConnLost = errors.New("acquirer: connection lost, outcome unknown")
	// ErrClosed: the link is closed. Send wraps it together with
	// ErrUnavailable, since nothing was sent.
	ErrClosed = errors.New("acquirer: link closed")
	// ErrInFlight: a request with the same identity (DE41+DE11+DE7) is
	// already waiting on this link. Send wraps it with ErrUnavailable: the
	// second copy was not sent.
	ErrInFlight = errors.New("acquirer: identity already in flight")
)

// Backoff bounds for reconnecting.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Link is a pool of connections to one acquirer host. Safe for concurrent
// use.
type Link struct {
	cfg    Config
	tls    *tls.Config // nil: plain TCP
	log    *slog.Logger
	codec  *wire.Codec
	slots  []atomic.Pointer[session]
	epoch  time.Time // base of the monotonic idle clock
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// firstTry is closed once every slot's first dial has finished or one
	// connected: until then Send waits for a connection instead of
	// failing a request sent right after Open.
	firstTry  chan struct{}
	firstLeft atomic.Int32
	firstOnce sync.Once

	// lastTLS is the last TLS failure while no connection has come up
	// since: Send's ErrUnavailable carries it.
	lastTLS atomic.Pointer[handshakeError]

	rr       atomic.Uint32
	echoSTAN atomic.Uint32
	st       counters
}

// Open starts the pool. It dials in the background and never fails for an
// unreachable host; Send returns ErrUnavailable until a connection is up.
func Open(cfg Config) (*Link, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("acquirer: open %s: %w", cfg.Name, err)
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("acquirer %s: %w", cfg.Name, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{
		cfg:      cfg,
		tls:      tc,
		log:      log.With("acquirer", cfg.Name, "addr", cfg.Addr),
		codec:    wire.NewCodec(cfg.Dialect),
		slots:    make([]atomic.Pointer[session], cfg.Conns),
		epoch:    time.Now(),
		ctx:      ctx,
		cancel:   cancel,
		firstTry: make(chan struct{}),
	}
	if tc != nil {
		l.st.tls = newTLSCounters()
	}
	l.firstLeft.Store(int32(cfg.Conns))
	for i := range l.slots {
		l.wg.Add(1)
		go l.runSlot(i)
	}
	return l, nil
}

// Close stops all connections; requests still waiting get ErrConnLost
// (written) or ErrUnavailable (not yet written).
func (l *Link) Close() error {
	l.cancel()
	l.wg.Wait()
	return nil
}

// Healthy reports at least one connection up.
func (l *Link) Healthy() bool { return l.connected() > 0 }

func (l *Link) connected() int {
	n := 0
	for i := range l.slots {
		if l.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// Send writes m on a connection (round robin) and waits for the answer
// with the same DE41+DE11+DE7. The caller owns the identity (STAN, DE7,
// terminal). See the package doc for the meaning of the errors; an error
// always wraps exactly one of ErrUnavailable, ErrTimeout, ErrConnLost
// (plus ctx.Err() when the context ended it).
func (l *Link) Send(ctx context.Context, m *wire.Message) (*wire.Message, error) {
	if m == nil {
		return nil, fmt.Errorf("acquirer %s: nil message: %w", l.cfg.Name, ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("acquirer %s: %w: %w", l.cfg.Name, ErrUnavailable, err)
	}
	frame, err := l.codec.PackFrame(nil, m)
	if err != nil {
		return nil, fmt.Errorf("acquirer %s: pack %s: %w: %w", l.cfg.Name, m.MTI, ErrUnavailable, err)
	}
	s, w, err := l.submit(ctx, m.Key(), frame)
	clear(frame) // queued as a copy (or not at all): its card data goes now
	if err != nil {
		l.st.unavailable.Add(1)
		return nil, err
	}
	l.st.sent.Add(1)
	resp, err := l.wait(ctx, s, w)
	switch {
	case err == nil:
		l.st.answered.Add(1)
	case errors.Is(err, ErrTimeout):
		l.st.timeouts.Add(1)
	}
	return resp, err
}

// submit registers a waiter on a connection and queues the frame.
func (l *Link) submit(ctx context.Context, key string, frame []byte) (*session, *waiter, error) {
	s, w, err := l.trySubmit(key, frame)
	if errors.Is(err, errNoConn) && l.waitFirstTry(ctx) {
		s, w, err = l.trySubmit(key, frame)
	}
	switch {
	case err == nil:
		return s, w, nil
	case l.ctx.Err() != nil:
		return nil, nil, fmt.Errorf("acquirer %s: %w: %w", l.cfg.Name, ErrClosed, ErrUnavailable)
	case errors.Is(err, ErrInFlight):
		return nil, nil, fmt.Errorf("acquirer %s: %s: %w: %w", l.cfg.Name, key, ErrInFlight, ErrUnavailable)
	default:
		if he := l.lastTLS.Load(); he != nil && errors.Is(err, errNoConn) {
			// Why there is no connection is what the operator must fix.
			return nil, nil, fmt.Errorf("%w: %w (last: %w)", ErrUnavailable, err, he)
		}
		return nil, nil, fmt.Errorf("acquirer %s: %w: %w", l.cfg.Name, ErrUnavailable, err)
	}
}

var errNoConn = errors.New("no connection up")

// trySubmit walks the pool once from the round-robin position.
func (l *Link) trySubmit(key string, frame []byte) (*session, *waiter, error) {
	n := len(l.slots)
	start := int(l.rr.Add(1) % uint32(n))
	for i := range n {
		s := l.slots[(start+i)%n].Load()
		if s == nil {
			continue
		}
		w, err := s.submit(key, frame)
		if err == nil {
			return s, w, nil
		}
		if errors.Is(err, ErrInFlight) {
			return nil, nil, err
		}
	}
	return nil, nil, errNoConn
}

// waitFirstTry waits for the first dials after Open; it reports whether
// it is worth trying again.
func (l *Link) waitFirstTry(ctx context.Context) bool {
	select {
	case <-l.firstTry:
		return false
	default:
	}
	select {
	case <-l.firstTry:
		return true
	case <-ctx.Done():
	case <-l.ctx.Done():
	}
	return false
}

func (l *Link) firstDialDone(connected bool) {
	if connected || l.firstLeft.Add(-1) == 0 {
		l.firstOnce.Do(func() { close(l.firstTry) })
	}
}

// wait blocks for the waiter's result, the link timeout or ctx.
func (l *Link) wait(ctx context.Context, s *session, w *waiter) (*wire.Message, error) {
	timer := time.NewTimer(l.cfg.Timeout)
	defer timer.Stop()
	var cause error
	select {
	case r := <-w.ch:
		return r.msg, r.err
	case <-timer.C:
	case <-ctx.Done():
		cause = ctx.Err()
	}
	if !s.take(w.key, w) {
		// The answer (or a failure) was being delivered as time ran
		// out: it is the true outcome.
		r := <-w.ch
		return r.msg, r.err
	}
	if cause != nil {
		return nil, fmt.Errorf("acquirer %s: %s: %w: %w", l.cfg.Name, w.key, ErrTimeout, cause)
	}
	return nil, fmt.Errorf("acquirer %s: %s: no answer in %v: %w", l.cfg.Name, w.key, l.cfg.Timeout, ErrTimeout)
}

// runSlot keeps one connection of the pool up until Close.
func (l *Link) runSlot(i int) {
	defer l.wg.Done()
	delay := minBackoff
	var lastTLS string // the reason of the last TLS failure: warn once per streak
	for attempt := 0; ; attempt++ {
		nc, err := l.dial()
		if err == nil {
			if attempt > 0 {
				l.st.reconnects.Add(1)
			}
			// A host refusing us right after the handshake keeps the
			// backoff growing, like one refusing in it.
			if err = l.serve(i, nc); err == nil {
				delay, lastTLS = minBackoff, ""
				l.lastTLS.Store(nil)
			}
		} else if attempt == 0 {
			l.firstDialDone(false)
		}
		var he *handshakeError
		if errors.As(err, &he) {
			l.lastTLS.Store(he)
		}
		switch {
		case l.ctx.Err() != nil:
		case he != nil && he.reason != lastTLS:
			l.log.Warn("TLS failed", "conn", i, "reason", he.reason, "err", err)
			lastTLS = he.reason
		case err != nil && nc == nil:
			l.log.Debug("dial failed", "conn", i, "err", err)
		}
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(jitter(delay)):
		}
		delay = min(delay*2, maxBackoff)
	}
}

// dial connects, and with TLS shakes hands, all within DialTimeout.
func (l *Link) dial() (net.Conn, error) {
	start := time.Now()
	d := net.Dialer{Timeout: l.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(l.ctx, "tcp", l.cfg.Addr)
	if err != nil || l.tls == nil {
		return nc, err
	}
	return l.handshake(nc, start)
}

// jitter spreads d over ±25% so that a pool (or a fleet of links) does not
// reconnect in lockstep.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

// serve runs one connection until it dies. A host's TLS alert ends it
// as a handshake failure: with TLS 1.3 a host that refuses our client
// certificate says so only after the client's side of the handshake is
// done, on the first read.
func (l *Link) serve(i int, nc net.Conn) error {
	s := newSession(l, i, nc)
	l.slots[i].Store(s)
	l.firstDialDone(true) // after the Store: a Send woken by it finds the session
	attrs := []any{"conn", i, "local", nc.LocalAddr().String()}
	if tc, ok := nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		attrs = append(attrs, "tls", tls.VersionName(cs.Version), "cipher", tls.CipherSuiteName(cs.CipherSuite))
	}
	l.log.Info("connected", attrs...)
	err := s.run()
	if l.tls != nil && tlsconf.Reason(err) == tlsconf.ReasonPeerRefused {
		return l.tlsFailure(err)
	}
	if l.ctx.Err() == nil {
		l.log.Warn("connection lost", "conn", i, "err", err)
	}
	return nil
}

// now is the monotonic clock of the echo logic.
func (l *Link) now() time.Duration { return time.Since(l.epoch) }

// echoMessage builds an 0800 echo with the link's own STAN counter.
func (l *Link) echoMessage() *wire.Message {
	n := l.echoSTAN.Add(1)%999999 + 1
	stan := strconv.FormatUint(uint64(n), 10)
	for len(stan) < 6 {
		stan = "0" + stan
	}
	return &wire.Message{
		MTI:              wire.MTINetwork,
		TransmissionTime: time.Now().UTC().Format("0102150405"),
		STAN:             stan,
		NetworkCode:      wire.NetEcho,
	}
}
