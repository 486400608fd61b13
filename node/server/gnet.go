package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/internal/peer"
	"github.com/tillgate/tillgate/wire"
)

// gnetListener is the gnet listener for cash registers. Its event loops
// only frame bytes; decoding and the Handler run on goroutines, and answers
// go back through AsyncWrite, so one slow transaction never stalls a loop.
type gnetListener struct {
	gnet.BuiltinEventEngine
	s       *Server
	dialect wire.Dialect
	eng     gnet.Engine
	booted  chan struct{}
	done    chan error
	conns   sync.Map // *gnetConn -> struct{}
}

// gnetConn is the per-connection state. closed guards against answering on
// a connection gnet has already closed.
type gnetConn struct {
	c    gnet.Conn
	s    *Server
	addr string
	ip   string       // as the gate admitted it
	last atomic.Int64 // unix nanos of the last bytes received
	// begun is when the bytes of a frame not yet whole started to
	// arrive (unix nanos; 0: none): a frame begun and not finished within
	// FrameTimeout is closed, as over TLS.
	begun    atomic.Int64
	inflight inflight
	// overflow is set once the connection is closed for unread answers.
	overflow atomic.Bool
	mu       sync.Mutex
	closed   bool
}

func startGNet(s *Server) (*gnetListener, error) {
	l := &gnetListener{
		s:       s,
		dialect: s.cfg.Codec.Dialect(),
		booted:  make(chan struct{}),
		done:    make(chan error, 1),
	}
	go func() {
		opts := []gnet.Option{gnet.WithMulticore(true),
			// A restarted node must bind while the connections its
			// predecessor held are still in TIME_WAIT.
			gnet.WithReuseAddr(true),
			gnet.WithTicker(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			// No WithTCPKeepAlive: gnet v2.10.0 then replaces a failed
			// bind's error with "setsockopt: bad file descriptor". Dead
			// registers are found by the idle timeout instead.
			gnet.WithLogger(gnetLogger{s.log}),
		}
		if s.cfg.SendBuffer > 0 {
			opts = append(opts, gnet.WithSocketSendBuffer(s.cfg.SendBuffer))
		}
		err := gnet.Run(l, "tcp://"+s.cfg.Addr, opts...)
		l.done <- err
		if err != nil {
			s.cfg.Fail(fmt.Errorf("register listener: %w", err))
		}
	}()
	select {
	case <-l.booted:
		return l, nil
	case err := <-l.done:
		return nil, err
	}
}

func (l *gnetListener) stop(ctx context.Context) error { return l.eng.Stop(ctx) }

func (l *gnetListener) OnBoot(eng gnet.Engine) gnet.Action {
	l.eng = eng
	close(l.booted)
	return gnet.None
}

func (l *gnetListener) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	ip, node, ok := l.s.gate.admit(c.RemoteAddr())
	if !ok {
		return nil, gnet.Close
	}
	gc := &gnetConn{c: c, s: l.s, addr: c.RemoteAddr().String(), ip: ip}
	gc.inflight.uncapped.Store(node)
	gc.last.Store(time.Now().UnixNano())
	c.SetContext(gc)
	l.conns.Store(gc, struct{}{})
	l.s.conns.Add(1)
	return nil, gnet.None
}

func (l *gnetListener) OnClose(c gnet.Conn, _ error) gnet.Action {
	gc, ok := c.Context().(*gnetConn)
	if !ok {
		return gnet.None
	}
	gc.mu.Lock()
	gc.closed = true
	gc.mu.Unlock()
	l.conns.Delete(gc)
	l.s.conns.Add(-1)
	l.s.gate.release(gc.ip)
	return gnet.None
}

// OnTraffic takes every whole frame out of the buffer: gnet does not call
// again for bytes that are already buffered.
func (l *gnetListener) OnTraffic(c gnet.Conn) gnet.Action {
	gc, ok := c.Context().(*gnetConn)
	if !ok {
		return gnet.Close
	}
	gc.last.Store(time.Now().UnixNano())
	for {
		buf, _ := c.Peek(-1)
		payload, n, err := l.dialect.Next(buf)
		if err != nil {
			l.s.metrics.malformed.WithLabelValues("frame").Inc()
			l.s.log.Warn("bad frame: closing connection", logkey.Remote, gc.addr, logkey.Err, err)
			return gnet.Close
		}
		if n == 0 {
			if len(buf) == 0 {
				gc.begun.Store(0)
			} else if gc.begun.Load() == 0 {
				gc.begun.Store(time.Now().UnixNano())
			}
			return gnet.None
		}
		frame := make([]byte, len(payload)) // payload dies at Discard
		copy(frame, payload)
		// gnet keeps its buffers for the connection's next bytes: the
		// card data read stays in none of them (Peek's bytes are the
		// loop's read buffer or the connection's ring, unless gnet
		// joined a wrapped ring into a copy of its own).
		clear(buf[:n])
		_, _ = c.Discard(n)
		if !l.s.dispatch(gc, &gc.inflight, frame) {
			return gnet.Close
		}
	}
}

// OnTick closes connections idle for longer than IdleTimeout, and those
// with a frame begun and not finished within FrameTimeout (a half-sent
// frame holds its buffer): gnet has no read deadlines.
func (l *gnetListener) OnTick() (time.Duration, gnet.Action) {
	now := time.Now()
	idleCutoff := int64(0)
	if idle := l.s.cfg.IdleTimeout; idle > 0 {
		idleCutoff = now.Add(-idle).UnixNano()
	}
	frameCutoff := now.Add(-l.s.cfg.FrameTimeout).UnixNano()
	l.conns.Range(func(k, _ any) bool {
		gc := k.(*gnetConn)
		switch b := gc.begun.Load(); {
		case b != 0 && b < frameCutoff:
			l.s.metrics.deadlineClosed.WithLabelValues("frame").Inc()
			l.s.log.Warn("frame begun and not finished in time: connection closed", logkey.Remote, gc.addr, "after", l.s.cfg.FrameTimeout)
			gc.begun.Store(0) // counted once; the close is queued
			_ = gc.c.Close()
		case gc.last.Load() < idleCutoff:
			l.s.metrics.idleClosed.Inc()
			_ = gc.c.Close()
		}
		return true
	})
	return time.Second, gnet.None
}

func (gc *gnetConn) write(b []byte) bool {
	gc.mu.Lock()
	closed := gc.closed
	gc.mu.Unlock()
	if closed {
		return false
	}
	return gc.c.AsyncWrite(b, gc.written) == nil
}

// written runs on the event loop after an answer went to the connection's
// outbound buffer, the one place its size may be read: answers piling up
// past WriteBufferCap are a register that does not read them.
func (gc *gnetConn) written(c gnet.Conn, err error) error {
	if err != nil || gc.s.cfg.WriteBufferCap <= 0 || c.OutboundBuffered() <= gc.s.cfg.WriteBufferCap {
		return nil
	}
	if gc.overflow.CompareAndSwap(false, true) {
		gc.s.limitClosed(gc, closedSlowReader)
		_ = c.Close()
	}
	return nil
}

func (gc *gnetConn) close() { _ = gc.c.Close() }

func (gc *gnetConn) remote() string { return gc.addr }

func (gc *gnetConn) identity() peer.Identity { return peer.Identity{Addr: gc.addr} }

// gnetLogger sends gnet's own logging to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...)) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug(fmt.Sprintf(f, a...)) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...)) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...)) }
