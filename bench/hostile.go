package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Hostile is what the hostile connections opened beside the load did
// (Options.Hostile): the register listeners' limits at work.
type Hostile struct {
	Conns int `json:"conns"` // asked for: a third each idle, half-frame, garbage
	// PeakOpen is the most open at once.
	PeakOpen int64 `json:"peak_open"`
	// Dials counts every connect, reconnects included; Refused those that
	// failed or were closed before their first byte was written.
	Dials   int64 `json:"dials"`
	Refused int64 `json:"refused"`
	// Closed counts connections the listener closed (a half frame past its
	// deadline, garbage, idleness).
	Closed int64 `json:"closed"`
}

// hostileRedial is how long a hostile connection waits to reconnect once
// closed: every one reconnecting at once would be an accept flood the
// accept rate limit refuses, and that is another test.
const hostileRedial = 2 * time.Second

// startHostile opens n plain TCP connections spread over addrs, a third
// each: idle (connected, silent), half-frame (a length prefix promising
// 200 bytes and 10 of them, then silence), garbage (bytes no dialect
// frames: the listener closes it). Each reconnects hostileRedial after it
// is closed, until stop; stop returns the counts.
func startHostile(ctx context.Context, addrs []string, n int) (stop func() *Hostile) {
	h := &Hostile{Conns: n}
	ctx, cancel := context.WithCancel(ctx)
	var open atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := func(v int64) {
		mu.Lock()
		h.PeakOpen = max(h.PeakOpen, v)
		mu.Unlock()
	}
	var dials, refused, closed atomic.Int64
	for i := range n {
		addr, kind := addrs[i%len(addrs)], i%3
		wg.Go(func() {
			for ctx.Err() == nil {
				dials.Add(1)
				c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
				if err != nil {
					refused.Add(1)
					sleepCtx(ctx, hostileRedial)
					continue
				}
				peak(open.Add(1))
				if !hostileSend(c, kind) {
					refused.Add(1)
				} else if hostileWait(ctx, c) {
					closed.Add(1)
				}
				open.Add(-1)
				_ = c.Close()
				sleepCtx(ctx, hostileRedial)
			}
		})
	}
	return func() *Hostile {
		cancel()
		wg.Wait()
		h.Dials, h.Refused, h.Closed = dials.Load(), refused.Load(), closed.Load()
		return h
	}
}

func hostileSend(c net.Conn, kind int) bool {
	var b []byte
	switch kind {
	case 0:
		return true
	case 1:
		b = append([]byte{0, 200}, make([]byte, 10)...)
	default:
		b = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n\xff\xff\xff\xff")
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Write(b)
	return err == nil
}

// hostileWait reads until the listener closes c (true) or ctx ends.
func hostileWait(ctx context.Context, c net.Conn) bool {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = c.SetReadDeadline(time.Now())
		case <-done:
		}
	}()
	_, _ = io.Copy(io.Discard, c)
	return ctx.Err() == nil
}

func writeHostile(w io.Writer, h *Hostile) {
	if h == nil {
		return
	}
	fmt.Fprintf(w, "  Hostile:\t%d conns (idle, half-frame, garbage) beside the load: peak %d open, %d dials, %d refused, %d closed by the nodes\n",
		h.Conns, h.PeakOpen, h.Dials, h.Refused, h.Closed)
}
