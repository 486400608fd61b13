package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/inflight"
	"github.com/tillgate/tillgate/store"
)

// watchLeadership turns the cluster's leadership changes into views, and
// starts a takeover each time this node wins a term.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	var stopTerm context.CancelFunc
	failed, stopped := n.raft.Failed(), n.store.Stopped()
	for {
		select {
		case <-n.ctx.Done():
			if stopTerm != nil {
				stopTerm()
			}
			return
		case <-failed:
			failed = nil
			n.fail(fmt.Errorf("node: raft log store failed, raft stopped: %w", n.raft.FailErr()))
		case <-stopped:
			stopped = nil
			n.fail(fmt.Errorf("node: state machine stopped: %w", n.store.Failure()))
		case l := <-n.raft.Leadership():
			n.leaders.Note(l, time.Now())
			old := n.views.Current()
			if l.IsLeader && old.Leader && old.Term == l.Term {
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
	n.views.Set(l, n.registerAddrOf(l.LeaderID))
	n.log.Info("leadership", "leader", l.IsLeader, keyTerm, l.Term, "leader_id", l.LeaderID)
}

// takeover makes a newly elected leader safe to serve: it first catches up
// with everything its predecessor committed (Barrier), then claims every
// INTENT that has no OUTCOME, so that a register's repeat of one of them
// waits for its resolution and never causes a second authorization. Only then
// does it serve; the claimed INTENTs are resolved meanwhile, so new
// transactions do not wait for the acquirer round trips of old ones.
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
	claims := make([]*inflight.Call, len(pending))
	for i, t := range pending {
		if c, owner := n.inflight.Join(t.ID); owner {
			claims[i] = c
		}
	}
	if n.views.MarkServing(term) {
		n.metrics.takeovers.Inc()
		n.log.Info("takeover: serving", keyTerm, term, "open_intents", len(pending), "took", time.Since(start))
		// The advices and reversals owed to acquirers: this term's to send.
		n.runSAF(ctx)
		n.runDays(ctx)
	}
	n.resolveAll(ctx, pending, claims)
	n.log.Info("takeover: open intents resolved", keyTerm, term, "resolved", len(pending), "took", time.Since(start))
	n.sweepOpen(ctx)
}

// sweepOpen resolves, for as long as the term lasts, every INTENT left open
// on this active with nobody working on it: a request whose OUTCOME could
// not be committed (its deadline passed during a slow commit, a failed
// Apply) while this node stayed the leader. Without the sweep only the next
// takeover would resolve it: the day could not settle, and a register's
// repeat would find it pending. An INTENT younger than a request's timeout
// may still have its request working on it, so it is left alone.
func (n *Node) sweepOpen(ctx context.Context) {
	every := max(n.requestTimeout()/4, time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n.sweepOnce(ctx, time.Now().Add(-n.requestTimeout()))
	}
}

// sweepOnce resolves the open INTENTs created before cutoff that nothing on
// this node is working on.
func (n *Node) sweepOnce(ctx context.Context, cutoff time.Time) {
	pending, err := n.store.Pending()
	if err != nil {
		n.log.Error("sweep: cannot list open intents", keyErr, err)
		return
	}
	var stale []*store.Txn
	var claims []*inflight.Call
	for _, t := range pending {
		if t.CreatedAt > cutoff.UnixNano() {
			continue
		}
		if c, owner := n.inflight.Join(t.ID); owner {
			stale, claims = append(stale, t), append(claims, c)
		}
	}
	if len(stale) == 0 {
		return
	}
	n.metrics.swept.Add(float64(len(stale)))
	n.log.Warn("sweep: resolving intents left open on this active", "count", len(stale), "oldest", stale[0].ID)
	n.resolveAll(ctx, stale, claims)
}

// resolveAll resolves open INTENTs a few dozen at a time: each waits on the
// acquirer, and there may be thousands after a crash under load. claims[i]
// is the in-flight call takeover holds for pending[i], or nil when another
// goroutine (a request of an earlier term on this node) still held it.
func (n *Node) resolveAll(ctx context.Context, pending []*store.Txn, claims []*inflight.Call) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i, t := range pending {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			// The term ended: release what is still claimed, so that
			// waiters wake up (with no answer) instead of hanging.
			for j := i; j < len(pending); j++ {
				if claims[j] != nil {
					n.inflight.Finish(pending[j].ID, claims[j], nil)
				}
			}
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(t *store.Txn, c *inflight.Call) {
			defer func() { <-sem; wg.Done() }()
			if c == nil {
				if c = n.inflight.ClaimWhenFree(ctx, t.ID); c == nil {
					return
				}
			}
			n.inflight.Finish(t.ID, c, n.resolveOpen(ctx, t.ID))
		}(t, claims[i])
	}
	wg.Wait()
}

// resolveOpen resolves id if it is still open: a register's repeat may have
// resolved it already.
func (n *Node) resolveOpen(ctx context.Context, id string) *store.Txn {
	t, ok, err := n.store.Get(id)
	if err != nil || !ok {
		return nil
	}
	if t.Status != store.StatusPending {
		return t
	}
	return n.resolve(ctx, t, nil, true)
}
