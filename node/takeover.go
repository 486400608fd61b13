package node

import (
	"context"
	"sync"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/store"
)

// watchLeadership turns the cluster's leadership changes into views, and
// starts a takeover each time this node wins a term.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	var stopTerm context.CancelFunc
	for {
		select {
		case <-n.ctx.Done():
			if stopTerm != nil {
				stopTerm()
			}
			return
		case l := <-n.raft.Leadership():
			old := n.currentView()
			if l.IsLeader && old.leader && old.term == l.Term {
				continue // the same term seen twice: the takeover already runs
			}
			if stopTerm != nil {
				stopTerm()
				stopTerm = nil
			}
			n.setView(l)
			if l.IsLeader {
				ctx, cancel := context.WithCancel(n.ctx)
				stopTerm = cancel
				n.wg.Add(1)
				go n.takeover(ctx, l.Term)
			}
		}
	}
}

func (n *Node) setView(l cluster.Leadership) {
	n.viewMu.Lock()
	defer n.viewMu.Unlock()
	old := n.view.Load()
	v := &view{
		leader:     l.IsLeader,
		term:       l.Term,
		leaderID:   l.LeaderID,
		activeAddr: n.registerAddrOf(l.LeaderID),
		servingCh:  make(chan struct{}),
	}
	n.view.Store(v)
	// Wake anyone waiting on the old view so they re-read the new one.
	closeOnce(old.servingCh)
	n.log.Info("leadership", "leader", l.IsLeader, keyTerm, l.Term, "leader_id", l.LeaderID)
}

// markServing lets the pipeline authorize, if term is still ours.
func (n *Node) markServing(term uint64) bool {
	n.viewMu.Lock()
	defer n.viewMu.Unlock()
	old := n.view.Load()
	if !old.leader || old.term != term {
		return false
	}
	v := *old
	v.serving = true
	v.servingCh = make(chan struct{})
	n.view.Store(&v)
	closeOnce(old.servingCh)
	return true
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// takeover makes a newly elected leader safe to serve: it first catches up
// with everything its predecessor committed (Barrier), then settles every
// INTENT that has no OUTCOME, so that no transaction stays half done and a
// register's repeat never causes a second authorization.
func (n *Node) takeover(ctx context.Context, term uint64) {
	defer n.wg.Done()
	start := time.Now()
	for {
		err := n.raft.Barrier(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("takeover: barrier failed, retrying", keyTerm, term, keyErr, err)
		time.Sleep(100 * time.Millisecond)
	}
	pending, err := n.store.Pending()
	if err != nil {
		n.log.Error("takeover: cannot list open intents", keyErr, err)
		n.fail(err)
		return
	}
	n.resolveAll(ctx, pending)
	if ctx.Err() != nil {
		return
	}
	if n.markServing(term) {
		n.metrics.takeovers.Inc()
		n.log.Info("takeover done: serving", keyTerm, term, "resolved", len(pending), "took", time.Since(start))
	}
}

// resolveAll resolves open INTENTs a few dozen at a time: each waits on the
// acquirer, and there may be thousands after a crash under load.
func (n *Node) resolveAll(ctx context.Context, pending []*store.Txn) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, t := range pending {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(t *store.Txn) {
			defer func() { <-sem; wg.Done() }()
			c, owner := n.inflight.join(t.ID)
			if !owner {
				return
			}
			r := n.resolve(ctx, t, nil, true)
			n.inflight.finish(t.ID, c, r)
		}(t)
	}
	wg.Wait()
}
