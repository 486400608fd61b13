package sim

import (
	"errors"
	"net"
	"sync"
)

// maxQueued bounds the answers waiting for a client that does not read
// them; beyond it the client is disconnected rather than costing memory.
const maxQueued = 4 << 20

var errSlowClient = errors.New("sim: client does not read its answers")

// connWriter serializes the answers of one connection and coalesces them
// without a goroutine of its own: the handler that finds the connection
// idle becomes the flusher and keeps writing until nothing is queued, so
// answers that arrive meanwhile share its next Write.
type connWriter struct {
	nc net.Conn

	mu    sync.Mutex
	buf   []byte // queued, not yet handed to Write
	spare []byte
	busy  bool  // a handler is flushing
	err   error // the first write error; the connection is then closed
}

// write queues frame and, unless another handler is flushing, flushes.
func (w *connWriter) write(frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if len(w.buf)+len(frame) > maxQueued {
		w.err = errSlowClient
		w.nc.Close()
		return w.err
	}
	w.buf = append(w.buf, frame...)
	if w.busy {
		return nil
	}
	w.busy = true
	for len(w.buf) > 0 && w.err == nil {
		out := w.buf
		w.buf = w.spare[:0]
		w.mu.Unlock()
		_, err := w.nc.Write(out)
		w.mu.Lock()
		w.spare = out[:0]
		if err != nil {
			w.err = err
			w.nc.Close()
		}
	}
	w.busy = false
	return w.err
}
