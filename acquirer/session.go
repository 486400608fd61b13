package acquirer

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// session is one live connection: a reader goroutine matching answers, a
// coalescing writer, an echo loop and the requests waiting on it. A new
// session is made for every (re)connection, so nothing of a dead
// connection leaks into the next one.
type session struct {
	l        *Link
	slot     int
	nc       net.Conn
	w        *frameWriter
	lastRecv atomic.Int64 // Link.now() of the last frame received

	mu      sync.Mutex
	pending map[string]*waiter // by identity DE41+DE11+DE7
	dead    bool
}

type waiter struct {
	key string
	ch  chan result // buffered 1: written once, by whoever takes the waiter
}

type result struct {
	msg *wire.Message
	err error
}

func newSession(l *Link, slot int, nc net.Conn) *session {
	s := &session{l: l, slot: slot, nc: nc, pending: make(map[string]*waiter)}
	s.w = newFrameWriter(nc, s.writeFailed)
	s.lastRecv.Store(int64(l.now()))
	return s
}

// submit registers a waiter for key and queues the frame.
func (s *session) submit(key string, frame []byte) (*waiter, error) {
	w := &waiter{key: key, ch: make(chan result, 1)}
	s.mu.Lock()
	switch {
	case s.dead:
		s.mu.Unlock()
		return nil, errNoConn
	case s.pending[key] != nil:
		s.mu.Unlock()
		return nil, ErrInFlight
	}
	s.pending[key] = w
	s.mu.Unlock()
	if err := s.w.enqueue(frame, w); err != nil {
		// Never queued: whoever else took the waiter meanwhile (the
		// teardown) delivered into a channel nobody reads; that is fine.
		s.take(key, w)
		return nil, errNoConn
	}
	return w, nil
}

// take removes w if it is still pending; the caller then owns its result.
func (s *session) take(key string, w *waiter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[key] != w || w == nil {
		return false
	}
	delete(s.pending, key)
	return true
}

// takeKey removes and returns the waiter for key, if any.
func (s *session) takeKey(key string) *waiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.pending[key]
	if w != nil {
		delete(s.pending, key)
	}
	return w
}

// writeFailed is the coalescing writer's report of a frame that did not go
// out whole.
func (s *session) writeFailed(tok any, started bool) {
	w, ok := tok.(*waiter)
	if !ok || !s.take(w.key, w) {
		return
	}
	if started {
		w.ch <- result{err: fmt.Errorf("acquirer %s: %s: partly written: %w", s.l.cfg.Name, w.key, ErrConnLost)}
		s.l.st.lost.Add(1)
		return
	}
	w.ch <- result{err: fmt.Errorf("acquirer %s: %s: connection failed before the write: %w", s.l.cfg.Name, w.key, ErrUnavailable)}
	s.l.st.unavailable.Add(1)
}

// run serves the connection until it fails or the link closes, then fails
// every waiter still pending.
func (s *session) run() error {
	stop := make(chan struct{})
	errc := make(chan error, 2)
	var rw, echo sync.WaitGroup
	rw.Add(2)
	go func() { defer rw.Done(); errc <- s.read() }()
	go func() { defer rw.Done(); errc <- s.w.run(stop) }()
	echo.Add(1)
	go func() { defer echo.Done(); s.echoLoop(stop) }()

	var err error
	select {
	case err = <-errc:
	case <-s.l.ctx.Done():
		err = ErrClosed
	}
	s.l.slots[s.slot].CompareAndSwap(s, nil) // no new requests on it
	s.nc.Close()
	close(stop)
	rw.Wait()
	s.failAll(err)
	echo.Wait()
	return err
}

// failAll ends every waiter: their frames were written (the writer has
// already reported those that were not), so the outcome is unknown.
func (s *session) failAll(cause error) {
	s.mu.Lock()
	s.dead = true
	pending := s.pending
	s.pending = map[string]*waiter{}
	s.mu.Unlock()
	for key, w := range pending {
		w.ch <- result{err: fmt.Errorf("acquirer %s: %s: %w (%v)", s.l.cfg.Name, key, ErrConnLost, cause)}
		s.l.st.lost.Add(1)
	}
}

// read reads frames and hands each to deliver. It returns the error that
// ended the connection.
func (s *session) read() error {
	fr := wire.NewFrameReader(s.nc, s.l.cfg.Dialect, 16<<10)
	for {
		payload, err := fr.Next()
		if wire.IsFramingError(err) {
			return fmt.Errorf("acquirer: bad frame from %s: %w", s.l.cfg.Addr, err)
		}
		if err != nil {
			return err
		}
		s.deliver(payload)
	}
}

// deliver decodes one answer and wakes its waiter. An answer nobody waits
// for (its request timed out) is counted and dropped. A host's own 0800 is
// not an answer: it is answered.
func (s *session) deliver(payload []byte) {
	s.lastRecv.Store(int64(s.l.now()))
	m, err := s.l.codec.Unpack(payload)
	if err != nil {
		s.l.st.malformed.Add(1)
		s.l.log.Warn("undecodable answer dropped", "conn", s.slot, "err", err)
		return
	}
	if m.MTI == wire.MTINetwork {
		s.answerHost(m)
		return
	}
	w := s.takeKey(m.Key())
	if w == nil {
		s.l.st.late.Add(1)
		s.l.log.Warn("late or unmatched answer dropped", "conn", s.slot, "mti", m.MTI, "key", m.Key(), "rc", m.ResponseCode)
		return
	}
	w.ch <- result{msg: m}
}

// answerHost answers a host-initiated 0800 (echo, sign-on, sign-off) with
// an 0810 00 carrying its DE7, DE11 and DE70: a host that echoes its peers
// closes a connection that leaves its echo unanswered. It goes through
// the writer like a request, with no waiter; if the connection is
// failing the answer is lost with it.
func (s *session) answerHost(m *wire.Message) {
	resp := &wire.Message{MTI: wire.MTINetworkResponse, TransmissionTime: m.TransmissionTime, STAN: m.STAN,
		NetworkCode: m.NetworkCode, ResponseCode: wire.RCApproved}
	frame, err := s.l.codec.PackFrame(nil, resp)
	if err != nil {
		s.l.st.malformed.Add(1)
		s.l.log.Warn("host 0800 not answerable, dropped", "conn", s.slot, "stan", m.STAN, "err", err)
		return
	}
	if err := s.w.enqueue(frame, nil); err != nil {
		s.l.log.Debug("host 0800 not answered: connection closing", "conn", s.slot, "stan", m.STAN)
		return
	}
	s.l.log.Debug("host 0800 answered", "conn", s.slot, "stan", m.STAN, "network_code", m.NetworkCode)
}

// echoLoop sends an echo when nothing was received for EchoInterval; an
// echo unanswered within Timeout closes the connection (it reconnects).
func (s *session) echoLoop(stop <-chan struct{}) {
	every := s.l.cfg.EchoInterval
	tick := time.NewTicker(max(every/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if s.l.now()-time.Duration(s.lastRecv.Load()) < every {
			continue
		}
		if err := s.echo(); err != nil {
			if !errors.Is(err, ErrConnLost) && !errors.Is(err, errNoConn) {
				s.l.st.echoFailures.Add(1)
				s.l.log.Warn("echo failed, closing the connection", "conn", s.slot, "err", err)
			}
			s.nc.Close()
			return
		}
	}
}

// echo sends one 0800/301 on this session and waits for its 0810.
func (s *session) echo() error {
	m := s.l.echoMessage()
	frame, err := s.l.codec.PackFrame(nil, m)
	if err != nil {
		return fmt.Errorf("acquirer: pack echo: %w", err)
	}
	w, err := s.submit(m.Key(), frame)
	if err != nil {
		return err
	}
	s.l.st.echoes.Add(1)
	resp, err := s.l.wait(s.l.ctx, s, w)
	if err != nil {
		return err
	}
	if resp.ResponseCode != wire.RCApproved {
		return fmt.Errorf("acquirer: echo answered %q", resp.ResponseCode)
	}
	return nil
}
