package takeover

import (
	"context"
	"slices"
	"time"

	"github.com/tillgate/tillgate/node/inflight"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/store"
)

// sweep resolves, for as long as the term lasts, every INTENT left open on
// this active with nobody working on it: a request whose OUTCOME could not
// be committed (its deadline passed during a slow commit, a failed Apply)
// while this node stayed the leader. Without the sweep only the next
// takeover would resolve it: the day could not settle, and a register's
// repeat would find it pending. An INTENT younger than a request's timeout
// may still have its request working on it, so it is left alone.
func (w *Watcher) sweep(ctx context.Context) {
	every := max(w.cfg.RequestTimeout/4, time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.sweepOnce(ctx, time.Now().Add(-w.cfg.RequestTimeout))
	}
}

// sweepOnce resolves the open INTENTs created before cutoff that nothing on
// this node is working on.
func (w *Watcher) sweepOnce(ctx context.Context, cutoff time.Time) {
	pending, err := w.cfg.State.Pending()
	if err != nil {
		w.log.Error("sweep: cannot list open intents", logkey.Err, err)
		return
	}
	if !slices.ContainsFunc(pending, func(t *store.Txn) bool { return t.CreatedAt <= cutoff.UnixNano() }) {
		return
	}
	// This node may have been paused or cut off and deposed without
	// knowing yet, its state behind what was committed: only a leader that
	// has applied everything may ask the acquirer about an INTENT (a stale
	// one would send a repeat that no node can record).
	if err := w.cfg.Raft.Barrier(ctx); err != nil {
		w.log.Warn("sweep: leadership not confirmed, not resolving", logkey.Err, err)
		return
	}
	if pending, err = w.cfg.State.Pending(); err != nil {
		w.log.Error("sweep: cannot list open intents", logkey.Err, err)
		return
	}
	var stale []*store.Txn
	var claims []*inflight.Call
	for _, t := range pending {
		if t.CreatedAt > cutoff.UnixNano() {
			continue
		}
		if c, owner := w.cfg.Calls.Join(t.ID); owner {
			stale, claims = append(stale, t), append(claims, c)
		}
	}
	if len(stale) == 0 {
		return
	}
	w.metrics.swept.Add(float64(len(stale)))
	w.log.Warn("sweep: resolving intents left open on this active", "count", len(stale), "oldest", stale[0].ID)
	w.resolveAll(ctx, stale, claims)
}
