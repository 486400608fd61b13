package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/wire"
)

// registerServer is the gnet listener for cash registers. Its event loops
// only frame bytes; decoding and the pipeline run on goroutines, and answers
// go back through AsyncWrite, so one slow transaction never stalls a loop.
type registerServer struct {
	gnet.BuiltinEventEngine
	n       *Node
	dialect wire.Dialect
	eng     gnet.Engine
	booted  chan struct{}
	done    chan error
	conns   sync.Map // *regConn -> struct{}
	count   atomic.Int64
}

// regConn is the per-connection state. closed guards against answering on a
// connection gnet has already closed.
type regConn struct {
	c      gnet.Conn
	remote string
	last   atomic.Int64 // unix nanos of the last bytes received
	mu     sync.Mutex
	closed bool
}

func startRegisterServer(n *Node) (*registerServer, error) {
	s := &registerServer{
		n:       n,
		dialect: n.codec.Dialect(),
		booted:  make(chan struct{}),
		done:    make(chan error, 1),
	}
	go func() {
		err := gnet.Run(s, "tcp://"+n.cfg.RegisterAddr,
			gnet.WithMulticore(true),
			// A restarted node must bind while the connections its
			// predecessor held are still in TIME_WAIT.
			gnet.WithReuseAddr(true),
			gnet.WithTicker(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			// No WithTCPKeepAlive: gnet v2.10.0 then replaces a failed
			// bind's error with "setsockopt: bad file descriptor". Dead
			// registers are found by the idle timeout instead.
			gnet.WithLogger(gnetLogger{n.log}),
		)
		s.done <- err
		if err != nil {
			n.fail(fmt.Errorf("register listener: %w", err))
		}
	}()
	select {
	case <-s.booted:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("register listener %s: %w", n.cfg.RegisterAddr, err)
	}
}

func (s *registerServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.eng.Stop(ctx); err != nil {
		return fmt.Errorf("register listener: stop: %w", err)
	}
	return nil
}

func (s *registerServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

func (s *registerServer) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if int(s.count.Load()) >= s.n.cfg.MaxConns {
		s.n.metrics.refusedConns.Inc()
		return nil, gnet.Close
	}
	rc := &regConn{c: c, remote: c.RemoteAddr().String()}
	rc.last.Store(time.Now().UnixNano())
	c.SetContext(rc)
	s.conns.Store(rc, struct{}{})
	s.count.Add(1)
	return nil, gnet.None
}

func (s *registerServer) OnClose(c gnet.Conn, _ error) gnet.Action {
	rc, ok := c.Context().(*regConn)
	if !ok {
		return gnet.None
	}
	rc.mu.Lock()
	rc.closed = true
	rc.mu.Unlock()
	s.conns.Delete(rc)
	s.count.Add(-1)
	return gnet.None
}

// OnTraffic takes every whole frame out of the buffer: gnet does not call
// again for bytes that are already buffered.
func (s *registerServer) OnTraffic(c gnet.Conn) gnet.Action {
	rc, ok := c.Context().(*regConn)
	if !ok {
		return gnet.Close
	}
	rc.last.Store(time.Now().UnixNano())
	for {
		buf, _ := c.Peek(-1)
		payload, n, err := s.dialect.Next(buf)
		if err != nil {
			s.n.metrics.malformed.WithLabelValues("frame").Inc()
			s.n.log.Warn("bad frame: closing connection", keyRemote, rc.remote, keyErr, err)
			return gnet.Close
		}
		if n == 0 {
			return gnet.None
		}
		frame := make([]byte, len(payload)) // payload dies at Discard
		copy(frame, payload)
		_, _ = c.Discard(n)
		go s.n.serveFrame(rc, frame)
	}
}

// OnTick closes connections idle for longer than IdleTimeout: gnet has no
// read deadlines.
func (s *registerServer) OnTick() (time.Duration, gnet.Action) {
	idle := s.n.cfg.IdleTimeout
	if idle <= 0 {
		return time.Second, gnet.None
	}
	cutoff := time.Now().Add(-idle).UnixNano()
	s.conns.Range(func(k, _ any) bool {
		rc := k.(*regConn)
		if rc.last.Load() < cutoff {
			s.n.metrics.idleClosed.Inc()
			_ = rc.c.Close()
		}
		return true
	})
	return time.Second, gnet.None
}

func (rc *regConn) write(b []byte) bool {
	rc.mu.Lock()
	closed := rc.closed
	rc.mu.Unlock()
	if closed {
		return false
	}
	return rc.c.AsyncWrite(b, nil) == nil
}

// serveFrame decodes one request, runs it and writes the answer. A frame
// whose MTI and STAN cannot be read is answered by closing the connection:
// there is nothing to match an answer to.
func (n *Node) serveFrame(rc *regConn, frame []byte) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			n.metrics.malformed.WithLabelValues("panic").Inc()
			n.log.Error("request handler panicked: connection closed", keyRemote, rc.remote, "panic", scrub(fmt.Sprint(p)))
			_ = rc.c.Close()
		}
	}()
	req, err := n.codec.Unpack(frame)
	if err != nil {
		n.metrics.malformed.WithLabelValues("unpack").Inc()
		mti, stan, ok := n.codec.Peek(frame)
		n.log.Warn("malformed message", keyRemote, rc.remote, keyMTI, mti, keySTAN, stan, keyErr, scrub(err.Error()))
		if !ok || !knownRequest(mti) {
			_ = rc.c.Close()
			return
		}
		n.send(rc, n.reply(&wire.Message{MTI: mti, STAN: stan}, n.views.Current(), wire.RCFormatError))
		return
	}
	if err := wire.ValidateRequest(req); err != nil {
		n.metrics.malformed.WithLabelValues("invalid").Inc()
		rcode := wire.RCFormatError
		var fe *wire.FormatError
		if errors.As(err, &fe) {
			rcode = fe.RC()
		}
		n.logRequest(slog.LevelWarn, "invalid request", req, keyRemote, rc.remote, keyErr, scrub(err.Error()))
		n.send(rc, n.reply(req, n.views.Current(), rcode))
		return
	}
	// Not derived from the node's context: on Close, work in flight runs on
	// until Raft refuses its OUTCOME, as after a crash.
	ctx, cancel := context.WithTimeout(context.Background(), n.requestTimeout())
	defer cancel()
	n.metrics.inflight.Inc()
	resp := n.handle(ctx, req)
	n.metrics.inflight.Dec()
	n.metrics.latency.Observe(time.Since(start).Seconds())
	if resp != nil {
		n.send(rc, resp)
	}
}

// requestTimeout bounds one request on this node: the slowest acquirer's
// time plus two commits, so the node gives up before a register's 30 s
// deadline and an OUTCOME after a slow acquirer's answer still commits.
func (n *Node) requestTimeout() time.Duration {
	list, _ := n.cfg.acquirerList()
	var slowest time.Duration
	for _, a := range list {
		t := a.Timeout
		if t <= 0 {
			t = acquirer.DefaultConfig().Timeout
		}
		slowest = max(slowest, t)
	}
	return slowest + 5*time.Second
}

func (n *Node) send(rc *regConn, resp *wire.Message) {
	b, err := n.codec.PackFrame(nil, resp)
	if err != nil {
		n.log.Error("cannot pack answer", keyMTI, resp.MTI, keySTAN, resp.STAN, keyErr, scrub(err.Error()))
		return
	}
	if !rc.write(b) {
		n.metrics.lostAnswers.Inc()
	}
}

func knownRequest(mti string) bool {
	switch wire.OriginalMTI(mti) {
	case "0100", "0200", "0220", "0320", "0400", "0420", "0500", "0800":
		return true
	}
	return false
}

var digitRun = regexp.MustCompile(`[0-9]{12,19}`)

// scrub masks anything in an error text that could be a card number: parser
// errors may quote the field they choked on.
func scrub(s string) string {
	return digitRun.ReplaceAllStringFunc(s, wire.MaskPAN)
}

// gnetLogger sends gnet's own logging to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug(fmt.Sprintf(f, a...)) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug(fmt.Sprintf(f, a...)) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn(fmt.Sprintf(f, a...)) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error(fmt.Sprintf(f, a...)) }
