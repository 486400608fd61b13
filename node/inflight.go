package node

import (
	"context"
	"hash/maphash"
	"sync"

	"github.com/tillgate/tillgate/store"
)

// call is one identity being processed on this node. Repeats that arrive
// meanwhile wait on done instead of reaching the acquirer a second time.
type call struct {
	done chan struct{}
	txn  *store.Txn // the final state; nil when the outcome is unknown
}

// inflight maps identities to the call processing them. It is sharded so that
// 2,000 registers do not queue on one lock.
type inflight struct {
	seed   maphash.Seed
	shards [64]struct {
		sync.Mutex
		m map[string]*call
	}
}

func newInflight() *inflight {
	f := &inflight{seed: maphash.MakeSeed()}
	for i := range f.shards {
		f.shards[i].m = make(map[string]*call)
	}
	return f
}

// join returns the call for key and whether the caller owns it. An owner
// must call finish exactly once.
func (f *inflight) join(key string) (*call, bool) {
	s := &f.shards[maphash.String(f.seed, key)%uint64(len(f.shards))]
	s.Lock()
	defer s.Unlock()
	if c, ok := s.m[key]; ok {
		return c, false
	}
	c := &call{done: make(chan struct{})}
	s.m[key] = c
	return c, true
}

// finish records the result, wakes the waiters and forgets the key: later
// repeats find the committed state in the store.
func (f *inflight) finish(key string, c *call, t *store.Txn) {
	s := &f.shards[maphash.String(f.seed, key)%uint64(len(f.shards))]
	c.txn = t
	s.Lock()
	delete(s.m, key)
	s.Unlock()
	close(c.done)
}

// wait blocks until no call for key is in progress.
func (f *inflight) wait(ctx context.Context, key string) error {
	s := &f.shards[maphash.String(f.seed, key)%uint64(len(f.shards))]
	s.Lock()
	c, ok := s.m[key]
	s.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// len counts calls in progress, for the metrics.
func (f *inflight) len() int {
	n := 0
	for i := range f.shards {
		f.shards[i].Lock()
		n += len(f.shards[i].m)
		f.shards[i].Unlock()
	}
	return n
}
