// Package inflight is the table of transaction identities being processed
// on this node: one call per identity, and whoever comes second (a
// register's repeat, a takeover, the sweep, a reversal settling its
// original) waits on that call instead of reaching the acquirer a second
// time.
package inflight

import (
	"context"
	"hash/maphash"
	"sync"

	"github.com/tillgate/tillgate/store"
)

// Call is one identity being processed on this node.
type Call struct {
	done chan struct{}
	txn  *store.Txn // the final state; nil when the outcome is unknown
}

// Done is closed when the call's owner has finished it.
func (c *Call) Done() <-chan struct{} { return c.done }

// Txn is the final state the owner recorded, nil when the outcome is
// unknown. Read it only after Done.
func (c *Call) Txn() *store.Txn { return c.txn }

// Table maps identities to the calls processing them. It is sharded so that
// 2,000 registers do not queue on one lock.
type Table struct {
	seed   maphash.Seed
	shards [64]shard
}

type shard struct {
	sync.Mutex
	m map[string]*Call
}

// New returns an empty table.
func New() *Table {
	t := &Table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*Call)
	}
	return t
}

func (t *Table) shard(key string) *shard {
	return &t.shards[maphash.String(t.seed, key)%uint64(len(t.shards))]
}

// Join returns the call for key and whether the caller owns it. An owner
// must call Finish exactly once.
func (t *Table) Join(key string) (*Call, bool) {
	s := t.shard(key)
	s.Lock()
	defer s.Unlock()
	if c, ok := s.m[key]; ok {
		return c, false
	}
	c := &Call{done: make(chan struct{})}
	s.m[key] = c
	return c, true
}

// Finish records the result, wakes the waiters and forgets the key: later
// repeats find the committed state in the store.
func (t *Table) Finish(key string, c *Call, txn *store.Txn) {
	s := t.shard(key)
	c.txn = txn
	s.Lock()
	delete(s.m, key)
	s.Unlock()
	close(c.done)
}

// Wait blocks until no call for key is in progress.
func (t *Table) Wait(ctx context.Context, key string) error {
	s := t.shard(key)
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

// ClaimWhenFree waits for whoever holds key to finish, then claims it for
// the caller, who must Finish it. nil when ctx ends first.
func (t *Table) ClaimWhenFree(ctx context.Context, key string) *Call {
	for ctx.Err() == nil {
		c, owner := t.Join(key)
		if owner {
			return c
		}
		select {
		case <-c.done:
		case <-ctx.Done():
		}
	}
	return nil
}
