package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// link is one connection to a node, shared by every request in flight:
// answers are matched to waiters on DE41 + DE11 + DE7.
type link struct {
	r    *router
	addr string
	nc   net.Conn

	wsem chan struct{} // one writer at a time; a waiter gives up at its deadline
	wbuf []byte

	mu       sync.Mutex
	waiters  map[string]chan *wire.Message
	draining bool // no new requests; closed once waiters is empty

	lastRead  atomic.Int64 // monotonic nanos since core.epoch
	lastWrite atomic.Int64
	done      chan struct{}
	once      sync.Once
	err       error
}

func newLink(r *router, addr string, nc net.Conn) *link {
	l := &link{r: r, addr: addr, nc: nc, wsem: make(chan struct{}, 1),
		waiters: make(map[string]chan *wire.Message), done: make(chan struct{})}
	now := r.now()
	l.lastRead.Store(now)
	l.lastWrite.Store(now)
	go l.readLoop()
	go l.keepAlive()
	return l
}

// alive reports a link that may take new requests.
func (l *link) alive() bool {
	select {
	case <-l.done:
		return false
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.draining
}

// fail closes the link once; waiters see done.
func (l *link) fail(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		_ = l.nc.Close()
		close(l.done)
		l.r.linkDown(l, err)
	})
}

// busy reports requests waiting on l.
func (l *link) busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters) > 0
}

// drain stops new requests; the link closes when the last waiter leaves.
func (l *link) drain() {
	l.mu.Lock()
	l.draining = true
	idle := len(l.waiters) == 0
	l.mu.Unlock()
	if idle {
		l.fail(errDrained)
	}
}

// register adds a waiter for key; ok is false when the link is unusable or
// key already waits here.
func (l *link) register(key string, ch chan *wire.Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return errLinkDown
	default:
	}
	if _, dup := l.waiters[key]; dup {
		return fmt.Errorf("%w: %s already in flight", ErrInvalidRequest, key)
	}
	l.waiters[key] = ch
	return nil
}

func (l *link) unregister(key string) {
	l.mu.Lock()
	delete(l.waiters, key)
	idle := l.draining && len(l.waiters) == 0
	l.mu.Unlock()
	if idle {
		l.fail(errDrained)
	}
}

// take removes and returns the waiter of key.
func (l *link) take(key string) chan *wire.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := l.waiters[key]
	if ch != nil {
		delete(l.waiters, key)
	}
	return ch
}

// write packs and writes m, giving up at until (waiting for another
// writer included). wrote reports whether any byte may have left.
func (l *link) write(m *wire.Message, until time.Time) (wrote bool, err error) {
	if err := l.lockWrite(until); err != nil {
		return false, err
	}
	defer func() { <-l.wsem }()
	b, err := l.r.codec.PackFrame(l.wbuf[:0], m)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", errPack, m.MTI, err)
	}
	l.wbuf = b
	defer clear(b) // the buffer is kept for the next write, not its card data
	_ = l.nc.SetWriteDeadline(minTime(time.Now().Add(l.r.cfg.AttemptTimeout), until))
	n, err := l.nc.Write(b)
	if err != nil {
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			// Nothing went and the stream is whole: the caller's deadline
			// came first; the link stays for the others.
			return false, fmt.Errorf("write to %s: %w", l.addr, err)
		}
		// Part of a frame may be on the wire: the stream is lost.
		l.fail(fmt.Errorf("write: %w", err))
		return n > 0, fmt.Errorf("write to %s: %w", l.addr, err)
	}
	l.lastWrite.Store(l.r.now())
	return true, nil
}

// lockWrite waits for the writer's turn until until or the link's end.
func (l *link) lockWrite(until time.Time) error {
	select {
	case l.wsem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case l.wsem <- struct{}{}:
		return nil
	case <-l.done:
		return fmt.Errorf("%s: %w", l.addr, errLinkDown)
	case <-t.C:
		return fmt.Errorf("%s: %w", l.addr, errWriteBusy)
	}
}

// echoUntil bounds the write of an echo.
func (l *link) echoUntil() time.Time { return time.Now().Add(l.r.cfg.AttemptTimeout) }

// roundTrip sends m and waits for its answer until until. wrote reports
// whether bytes may have left: false means m provably never reached the node.
func (l *link) roundTrip(ctx context.Context, m *wire.Message, key string, ch chan *wire.Message, until time.Time) (resp *wire.Message, wrote bool, err error) {
	if err := l.register(key, ch); err != nil {
		return nil, false, err
	}
	defer l.unregister(key)
	if wrote, err := l.write(m, until); err != nil {
		return nil, wrote, err
	}
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	silence := newSilenceWatch(l)
	defer silence.stop()
	for {
		select {
		case resp = <-ch:
			return resp, true, nil
		case <-l.done:
			// The answer may have raced the close.
			select {
			case resp = <-ch:
				return resp, true, nil
			default:
			}
			return nil, true, fmt.Errorf("%s: %w", l.addr, errLinkDown)
		case <-t.C:
			return nil, true, fmt.Errorf("%s: %w", l.addr, errAttemptTimeout)
		case <-ctx.Done():
			return nil, true, ctx.Err()
		case <-silence.c():
			silence.check() // may fail l: l.done is next
		}
	}
}

// silenceWatch implements Config.SilenceProbe for one attempt.
type silenceWatch struct {
	l        *link
	t        *time.Timer
	heard    int64 // lastRead when last looked at
	probedAt int64 // when the echo went out; 0: none yet
}

func newSilenceWatch(l *link) *silenceWatch {
	w := &silenceWatch{l: l, heard: l.lastRead.Load()}
	if d := l.r.cfg.SilenceProbe; d > 0 {
		w.t = time.NewTimer(d)
	}
	return w
}

func (w *silenceWatch) c() <-chan time.Time {
	if w.t == nil {
		return nil // never fires
	}
	return w.t.C
}

func (w *silenceWatch) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}

// check runs every SilenceProbe: a node that spoke since is working on it;
// one that did not gets an echo, and one that did not answer that either is
// dead.
func (w *silenceWatch) check() {
	heard := w.l.lastRead.Load()
	switch {
	case heard != w.heard:
		w.heard, w.probedAt = heard, 0
	case w.probedAt == 0:
		w.probedAt = w.l.r.now()
		_, _ = w.l.write(w.l.r.netMessage(wire.NetEcho), w.l.echoUntil())
	default:
		w.l.fail(fmt.Errorf("%w: no answer, not even to an echo, for %v", errLinkDown, time.Duration(w.l.r.now()-w.probedAt)+w.l.r.cfg.SilenceProbe))
		return
	}
	w.t.Reset(w.l.r.cfg.SilenceProbe)
}

// readLoop frames and decodes answers and hands them to their waiters.
func (l *link) readLoop() {
	fr := wire.NewFrameReader(readTimer{l}, l.r.cfg.Dialect, 0)
	for {
		payload, err := fr.Next()
		if wire.IsFramingError(err) {
			l.fail(fmt.Errorf("framing: %w", err))
			return
		}
		if err != nil {
			l.fail(fmt.Errorf("read: %w", err))
			return
		}
		l.deliver(payload)
	}
}

// readTimer reads l's connection and notes when bytes came (lastRead): a
// link that delivers part of a frame is alive.
type readTimer struct{ l *link }

func (t readTimer) Read(p []byte) (int, error) {
	n, err := t.l.nc.Read(p)
	if n > 0 {
		t.l.lastRead.Store(t.l.r.now())
	}
	return n, err
}

func (l *link) deliver(payload []byte) {
	m, err := l.r.codec.Unpack(payload)
	if err != nil {
		l.r.log.Warn("failover: undecodable answer skipped", "node", l.addr, "err", err)
		return
	}
	l.r.hint(l, m)
	if noActive(m) {
		l.r.sawNoActive(l.addr)
	}
	if ch := l.take(m.Key()); ch != nil {
		ch <- m // buffered, one answer per registration
		return
	}
	if noActive(m) && wire.OriginalMTI(m.MTI) == wire.MTINetworkResponse && l.busy() {
		// The silence probe's echo says the node knows no active: what
		// waits here will not be answered soon (a cut-off active waits
		// for a successor it cannot see). The waiters repeat on another
		// node.
		l.r.noActive(l)
		l.fail(fmt.Errorf("%s: %w", l.addr, errNoActive))
		return
	}
	l.r.onLate(l, m)
}

// keepAlive echoes an idle link and fails a silent one.
func (l *link) keepAlive() {
	cfg := &l.r.cfg
	tick := max(min(cfg.EchoIdle, cfg.DeadAfter-cfg.EchoIdle)/2, 5*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		now := l.r.now()
		read := now - l.lastRead.Load()
		if read >= int64(cfg.DeadAfter) {
			l.fail(fmt.Errorf("%w: silent for %v", errLinkDown, time.Duration(read)))
			return
		}
		if read >= int64(cfg.EchoIdle) {
			_, _ = l.write(l.r.netMessage(wire.NetEcho), l.echoUntil())
		}
	}
}
