package acquirer

// The coalescing writer of a connection: many goroutines queue whole
// frames, one goroutine writes everything queued with a single Write, so a
// burst of requests costs one system call instead of one each.
//
// When a write fails it tells, frame by frame, whether any byte of the
// frame reached the socket: that is what keeps "never sent" (ErrUnavailable,
// safe to decline or retry) apart from "outcome unknown".

import (
	"errors"
	"io"
	"sync"
)

// errWriterStopped is returned by enqueue once the writer has stopped.
var errWriterStopped = errors.New("acquirer: writer stopped")

// failFunc learns of a queued frame that did not go out whole. started
// reports that some of its bytes were handed to the socket.
type failFunc func(tok any, started bool)

type queuedFrame struct {
	tok      any
	from, to int // byte range in the batch
}

// frameWriter coalesces frames onto one io.Writer.
type frameWriter struct {
	w    io.Writer
	fail failFunc
	wake chan struct{}

	mu      sync.Mutex
	pend    []byte
	items   []queuedFrame
	spare   []byte
	stopped bool
}

// newFrameWriter returns a writer on w. fail may be nil.
func newFrameWriter(w io.Writer, fail failFunc) *frameWriter {
	if fail == nil {
		fail = func(any, bool) {}
	}
	return &frameWriter{w: w, fail: fail, wake: make(chan struct{}, 1)}
}

// enqueue queues one whole frame; tok is handed back to failFunc if the
// frame does not go out. The frame is copied. errWriterStopped means nothing was
// queued.
func (w *frameWriter) enqueue(frame []byte, tok any) error {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return errWriterStopped
	}
	from := len(w.pend)
	w.pend = append(w.pend, frame...)
	w.items = append(w.items, queuedFrame{tok: tok, from: from, to: len(w.pend)})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// run writes until stop is closed or a write fails; it returns the write
// error (nil when stopped). Frames still queued when it returns are
// reported to failFunc as not started; later enqueue calls fail.
func (w *frameWriter) run(stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			w.shutdown(nil, 0)
			return nil
		case <-w.wake:
		}
		for {
			batch, items := w.take()
			if len(batch) == 0 {
				break
			}
			n, err := w.w.Write(batch)
			if err != nil {
				w.shutdown(items, n)
				return err
			}
			w.recycle(batch)
		}
	}
}

// take swaps the queue out; the caller owns the returned slices.
func (w *frameWriter) take() ([]byte, []queuedFrame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	batch, items := w.pend, w.items
	w.pend, w.items = w.spare[:0], nil
	w.spare = nil
	return batch, items
}

// recycle keeps one buffer for the next batch so that a steady stream
// does not allocate; oversized buffers after a burst are dropped.
func (w *frameWriter) recycle(b []byte) {
	clear(b) // sent: no card data stays in a buffer kept or freed
	if cap(b) > 1<<20 {
		return
	}
	w.mu.Lock()
	w.spare = b[:0]
	w.mu.Unlock()
}

// shutdown stops the writer and reports every frame that did not go out
// whole: those of the failed batch (started if any byte of theirs was
// written) and those still queued (not started).
func (w *frameWriter) shutdown(failed []queuedFrame, n int) {
	w.mu.Lock()
	w.stopped = true
	queued := w.items
	w.pend, w.items = nil, nil
	w.mu.Unlock()
	for _, it := range failed {
		if it.to > n {
			w.fail(it.tok, it.from < n)
		}
	}
	for _, it := range queued {
		w.fail(it.tok, false)
	}
}
