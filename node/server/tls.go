package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/internal/peer"
	"github.com/tillgate/tillgate/wire"
)

// writeTimeout bounds writing one answer: a register that stops reading
// is closed instead of holding a goroutine and its answers forever.
const writeTimeout = 10 * time.Second

// tlsListener serves registers over TLS, a goroutine per connection: gnet
// has no TLS. Frames read here go to the same Server.serve as gnet's.
type tlsListener struct {
	s       *Server
	ln      net.Listener
	cfg     *tls.Config
	dialect wire.Dialect

	mu     sync.Mutex
	conns  map[*tlsConn]struct{}
	closed bool
	wg     sync.WaitGroup // the accept loop and every connection's reader
}

// tlsConn is one register connection. The reader goroutine alone touches
// the deadline fields; writers (the serve goroutines) take wmu.
type tlsConn struct {
	l  *tlsListener
	nc net.Conn // the TCP connection under tc: closing it never blocks
	tc *tls.Conn
	id peer.Identity
	ip string // as the gate admitted it

	inflight inflight
	// pending counts the bytes of answers waiting to be written: past
	// WriteBufferCap the register is not reading them.
	pending atomic.Int64
	slow    atomic.Bool // closed for unread answers: counted once

	// The read deadline: before the first frame, firstBy (handshake and
	// first frame together); inside a frame, begunAt + FrameTimeout;
	// between frames, IdleTimeout from now.
	firstBy  time.Time
	served   bool
	begun    bool
	begunAt  time.Time
	lastRead time.Time

	wmu    sync.Mutex
	closed bool
}

func startTLS(s *Server) (*tlsListener, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, err
	}
	l := &tlsListener{s: s, ln: ln, cfg: s.cfg.TLS, dialect: s.cfg.Codec.Dialect(), conns: map[*tlsConn]struct{}{}}
	l.wg.Go(l.accept)
	return l, nil
}

// accept runs until the listener is closed. Other accept errors (out of
// file descriptors, a connection reset before accept) are transient: it
// backs off and goes on, as net/http does.
func (l *tlsListener) accept() {
	var pause time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			l.s.log.Warn("register listener: accept failed: retrying", logkey.Err, err, "after", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		ip, node, ok := l.s.gate.admit(nc.RemoteAddr())
		if !ok {
			_ = nc.Close()
			continue
		}
		c := &tlsConn{l: l, nc: nc, tc: tls.Server(nc, l.cfg), ip: ip,
			id: peer.Identity{Addr: nc.RemoteAddr().String(), TLS: true}}
		c.inflight.uncapped.Store(node)
		if !l.track(c) {
			l.s.gate.release(ip)
			_ = nc.Close()
			return
		}
		l.wg.Go(c.run)
	}
}

func (l *tlsListener) track(c *tlsConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	l.s.conns.Add(1)
	return true
}

func (l *tlsListener) untrack(c *tlsConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.s.conns.Add(-1)
	l.s.gate.release(c.ip)
}

// stop closes the listener and every connection, and waits for their
// readers (not for requests in the Handler: their answers find no
// connection).
func (l *tlsListener) stop(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	err := l.ln.Close()
	for c := range l.conns {
		c.close()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// run handshakes, then reads frames until the connection ends.
func (c *tlsConn) run() {
	s := c.l.s
	defer c.l.untrack(c)
	defer c.close()
	c.firstBy = time.Now().Add(s.cfg.HandshakeTimeout)
	if !c.handshake() {
		return
	}
	fr := wire.NewFrameReader(deadlineReader{c}, c.l.dialect, 0)
	for {
		payload, err := fr.Next()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.served = true
		// Bytes after this frame are the start of the next one: its
		// clock started when they were read.
		c.begun, c.begunAt = fr.Started(), c.lastRead
		frame := make([]byte, len(payload)) // payload dies at the next Next
		copy(frame, payload)
		if !s.dispatch(c, &c.inflight, frame) {
			return
		}
	}
}

// handshake completes the TLS handshake by firstBy; a failure is counted
// by reason and logged, and the connection closed.
func (c *tlsConn) handshake() bool {
	s := c.l.s
	_ = c.nc.SetDeadline(c.firstBy)
	if err := c.tc.Handshake(); err != nil {
		reason := handshakeReason(err)
		s.metrics.handshakeFailures.WithLabelValues(reason).Inc()
		s.log.Warn("register TLS handshake failed: connection closed", logkey.Remote, c.id.Addr, "reason", reason, logkey.Err, err)
		return false
	}
	_ = c.nc.SetWriteDeadline(time.Time{})
	st := c.tc.ConnectionState()
	if len(st.VerifiedChains) > 0 {
		cn := st.PeerCertificates[0].Subject.CommonName
		if slices.Contains(s.cfg.Nodes, cn) {
			c.id.Node = cn
			c.inflight.uncapped.Store(true) // a standby's relay
		} else {
			c.id.Store = cn
		}
	}
	return true
}

// readFailed counts and logs why the reader stopped.
func (c *tlsConn) readFailed(err error) {
	s := c.l.s
	var ne net.Error
	switch {
	case wire.IsFramingError(err):
		s.metrics.malformed.WithLabelValues("frame").Inc()
		s.log.Warn("bad frame: closing connection", logkey.Remote, c.id.Addr, logkey.Err, err)
	case errors.As(err, &ne) && ne.Timeout():
		switch {
		case !c.served:
			s.metrics.deadlineClosed.WithLabelValues("first_frame").Inc()
			s.log.Warn("no whole frame within the handshake deadline: connection closed", logkey.Remote, c.id.Addr, "began", c.begun)
		case c.begun:
			s.metrics.deadlineClosed.WithLabelValues("frame").Inc()
			s.log.Warn("frame begun and not finished in time: connection closed", logkey.Remote, c.id.Addr, "after", s.cfg.FrameTimeout)
		default:
			s.metrics.idleClosed.Inc()
		}
	}
	// EOF, a reset, or our own close: nothing to say.
}

// deadlineReader sets the connection's read deadline before each read of
// the frame reader, from where the connection is: before its first frame,
// inside a frame or between frames.
type deadlineReader struct{ c *tlsConn }

func (r deadlineReader) Read(p []byte) (int, error) {
	c, cfg := r.c, &r.c.l.s.cfg
	var d time.Time
	switch {
	case !c.served:
		d = c.firstBy
	case c.begun:
		d = c.begunAt.Add(cfg.FrameTimeout)
	case cfg.IdleTimeout > 0:
		d = time.Now().Add(cfg.IdleTimeout)
	}
	_ = c.tc.SetReadDeadline(d)
	n, err := c.tc.Read(p)
	if n > 0 {
		c.lastRead = time.Now()
		if !c.begun {
			c.begun, c.begunAt = true, c.lastRead
		}
	}
	return n, err
}

// write writes an answer by writeTimeout. Answers wait for the kernel's
// send buffer here, not in a buffer of ours: past WriteBufferCap bytes
// waiting, or a write not done in writeTimeout, the register is not
// reading and is closed.
func (c *tlsConn) write(b []byte) bool {
	limit := c.l.s.cfg.WriteBufferCap
	defer c.pending.Add(-int64(len(b)))
	if n := c.pending.Add(int64(len(b))); limit > 0 && n > int64(limit) {
		c.slowReader()
		return false
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return false
	}
	_ = c.tc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.tc.Write(b); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.slowReader()
		}
		c.closed = true
		_ = c.nc.Close()
		return false
	}
	return true
}

// slowReader closes the connection for unread answers, counted once. It
// does not take wmu: closing unblocks the writer holding it.
func (c *tlsConn) slowReader() {
	if c.slow.CompareAndSwap(false, true) {
		c.l.s.limitClosed(c, closedSlowReader)
	}
	_ = c.nc.Close()
}

// close closes the TCP connection under the TLS one: no close_notify,
// which could block on a register that does not read.
func (c *tlsConn) close() {
	_ = c.nc.Close()
	c.wmu.Lock()
	c.closed = true
	c.wmu.Unlock()
}

func (c *tlsConn) remote() string { return c.id.Addr }

func (c *tlsConn) identity() peer.Identity { return c.id }

// HandshakeReasons are the reasons handshake failures are counted by:
// no_client_cert, and tlsconf's.
var HandshakeReasons = append([]string{reasonNoClientCert}, tlsconf.Reasons...)

// reasonNoClientCert: a register without a certificate where one is
// required (tlsconf cannot tell it from other failures).
const reasonNoClientCert = "no_client_cert"

// handshakeReason names why a handshake failed, for the metric.
func handshakeReason(err error) string {
	if strings.Contains(err.Error(), "didn't provide a certificate") {
		return reasonNoClientCert
	}
	return tlsconf.Reason(err)
}
