package server

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestWorkersNeverQueue: every request runs at once, however many wait
// (one waiting on the acquirer must not hold up another); finished workers
// take the next requests; after close no idle worker is left.
func TestWorkersNeverQueue(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newWorkers()
	const n = 200
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	for range n {
		w.run(func() { started.Done(); <-release; done.Done() })
	}
	started.Wait() // all n run together: none waited for a worker
	close(release)
	done.Wait()
	// The finished workers are idle now: the next requests run on them.
	done.Add(n)
	for range n {
		w.run(func() { done.Done() })
	}
	done.Wait()
	w.close()
	w.close() // Stop may run twice
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after close, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
