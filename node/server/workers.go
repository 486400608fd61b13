package server

import (
	"sync"
	"time"
)

// workers runs each request on a goroutine of its own, as many at once as
// there are requests (a request may wait seconds on the acquirer: none
// waits for another), but reuses the goroutines that finished. A new
// goroutine per request grew its stack anew each time: runtime.newproc,
// newstack and copystack were ~4.5% of the active's CPU at 2,000
// registers. A goroutine idle for workerIdle ends, and all idle ones end
// at Stop, so a burst does not leave thousands parked.
type workers struct {
	idle chan func() // unbuffered: a send succeeds only into a waiting worker
	stop chan struct{}
	once sync.Once
}

// workerIdle is how long a finished goroutine waits for the next request.
const workerIdle = 5 * time.Second

func newWorkers() *workers {
	return &workers{idle: make(chan func()), stop: make(chan struct{})}
}

// run runs f on an idle worker, or on a new one; it never blocks.
func (w *workers) run(f func()) {
	select {
	case w.idle <- f:
	default:
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		f = nil // the finished request's closure is garbage now
		t.Reset(workerIdle)
		select {
		case f = <-w.idle:
		case <-t.C:
			return
		case <-w.stop:
			return
		}
	}
}

// close ends the idle workers; those running end after their request.
func (w *workers) close() { w.once.Do(func() { close(w.stop) }) }
