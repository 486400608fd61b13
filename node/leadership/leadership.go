// Package leadership holds what a node knows of the cluster's leadership: a
// View, replaced whole on every change so that readers take no lock, and the
// History of every (term, leader) seen. Package takeover writes both; the
// pipeline, the relay, the admin API and the metrics read them.
package leadership

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tillgate/tillgate/cluster"
)

// View is this node's knowledge of the leadership at one moment. A View is
// never mutated: Tracker replaces it, and closes Replaced of the old one.
type View struct {
	Leader     bool   // Raft says this node leads
	Serving    bool   // the takeover is done: the pipeline may authorize
	Term       uint64 // the Raft term of that knowledge
	LeaderID   string
	ActiveAddr string // the leader's register address; "" when no leader is known
	replaced   chan struct{}
}

// Active reports a node that leads and has finished its takeover: the one
// that authorizes.
func (v *View) Active() bool { return v.Leader && v.Serving }

// Replaced is closed once a newer view replaces v: a change signal for
// whoever waits on the leadership.
func (v *View) Replaced() <-chan struct{} { return v.replaced }

// Tracker holds the latest View.
type Tracker struct {
	mu  sync.Mutex // orders the writers; readers load cur
	cur atomic.Pointer[View]
}

// NewTracker starts with a view that knows of no leader.
func NewTracker() *Tracker {
	t := &Tracker{}
	t.cur.Store(&View{replaced: make(chan struct{})})
	return t
}

// Current is the latest view.
func (t *Tracker) Current() *View { return t.cur.Load() }

// Set replaces the view with what Raft reports in l; activeAddr is the
// register address of l's leader. The new view is not serving yet.
func (t *Tracker) Set(l cluster.Leadership, activeAddr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	t.cur.Store(&View{
		Leader:     l.IsLeader,
		Term:       l.Term,
		LeaderID:   l.LeaderID,
		ActiveAddr: activeAddr,
		replaced:   make(chan struct{}),
	})
	// Wake anyone waiting on the old view so they re-read the new one.
	closeOnce(old.replaced)
}

// MarkServing lets the pipeline authorize, if term is still this node's:
// false when the node lost that term meanwhile.
func (t *Tracker) MarkServing(term uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.cur.Load()
	if !old.Leader || old.Term != term {
		return false
	}
	v := *old
	v.Serving = true
	v.replaced = make(chan struct{})
	t.cur.Store(&v)
	closeOnce(old.replaced)
	return true
}

// WaitServing blocks while a takeover is in progress on this node. It
// returns nil if the node stops leading or ctx ends first.
func (t *Tracker) WaitServing(ctx context.Context) *View {
	for {
		v := t.Current()
		if !v.Leader {
			return nil
		}
		if v.Serving {
			return v
		}
		select {
		case <-v.replaced:
		case <-ctx.Done():
			return nil
		}
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}
