// Package takeover turns the cluster's leadership changes into this node's
// leadership view (package leadership), and each time the node wins a term
// makes it safe to serve: it catches up with everything its predecessor
// committed (Barrier), claims every INTENT left without an OUTCOME so that
// no repeat of one reaches the acquirer beside its resolution, lets the
// pipeline serve, starts the term's duties (the store-and-forward senders,
// the business day), resolves the claimed INTENTs, and for the rest of the
// term sweeps up INTENTs left open on this active. The node's DESIGN.md
// says why.
package takeover

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/inflight"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
)

// Raft is the cluster: cluster.Cluster.
type Raft interface {
	// Leadership delivers the latest leadership state.
	Leadership() <-chan cluster.Leadership
	// Barrier waits until everything committed before it is applied.
	Barrier(ctx context.Context) error
}

// State lists the open INTENTs: store.Store.
type State interface {
	Pending() ([]*store.Txn, error)
}

// Calls is the table of identities in progress: the pipeline's
// inflight.Table.
type Calls interface {
	Join(id string) (*inflight.Call, bool)
	Finish(id string, c *inflight.Call, t *store.Txn)
	ClaimWhenFree(ctx context.Context, id string) *inflight.Call
}

// Resolver resolves an open INTENT whose call the caller holds: the
// pipeline.
type Resolver interface {
	ResolveOpen(ctx context.Context, id string) *store.Txn
}

// Views holds this node's leadership view: leadership.Tracker.
type Views interface {
	Current() *leadership.View
	Set(l cluster.Leadership, activeAddr string)
	MarkServing(term uint64) bool
}

// Duty is work the active does for as long as its term lasts, from the
// moment it serves: Run returns when ctx ends.
type Duty interface {
	Run(ctx context.Context)
}

// Config is what a Watcher is built from.
type Config struct {
	// RequestTimeout bounds one request on this node: an INTENT younger
	// than that may still have its request working on it.
	RequestTimeout time.Duration
	// RegisterAddrOf maps a Raft server id to its register address.
	RegisterAddrOf func(id string) string

	Raft     Raft
	State    State
	Calls    Calls
	Resolver Resolver
	Views    Views
	History  *leadership.History
	Duties   []Duty
	Fail     func(error) // stops the node

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Watcher follows the leadership and runs the takeovers.
type Watcher struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	terms   sync.WaitGroup // the takeovers and duties of this node's terms
}

// New returns a watcher and registers its metrics.
func New(cfg Config) *Watcher {
	w := &Watcher{cfg: cfg, log: cfg.Logger}
	w.metrics = newMetrics(cfg.Registerer, cfg.Views)
	return w
}

// Run follows the leadership until ctx ends, then waits for the work of
// the last term to stop.
func (w *Watcher) Run(ctx context.Context) {
	defer w.terms.Wait()
	var stopTerm context.CancelFunc
	for {
		select {
		case <-ctx.Done():
			if stopTerm != nil {
				stopTerm()
			}
			return
		case l := <-w.cfg.Raft.Leadership():
			w.cfg.History.Note(l, time.Now())
			old := w.cfg.Views.Current()
			if l.IsLeader && old.Leader && old.Term == l.Term {
				continue // the same term seen twice: the takeover already runs
			}
			if stopTerm != nil {
				stopTerm()
				stopTerm = nil
			}
			w.cfg.Views.Set(l, w.cfg.RegisterAddrOf(l.LeaderID))
			w.log.Info("leadership", "leader", l.IsLeader, logkey.Term, l.Term, "leader_id", l.LeaderID)
			if l.IsLeader {
				termCtx, cancel := context.WithCancel(ctx)
				stopTerm = cancel
				w.terms.Go(func() { w.takeover(termCtx, l.Term) })
			}
		}
	}
}

// takeover makes a newly elected leader safe to serve: it first catches up
// with everything its predecessor committed (Barrier), then claims every
// INTENT that has no OUTCOME, so that a register's repeat of one of them
// waits for its resolution and never causes a second authorization. Only then
// does it serve; the claimed INTENTs are resolved meanwhile, so new
// transactions do not wait for the acquirer round trips of old ones.
func (w *Watcher) takeover(ctx context.Context, term uint64) {
	start := time.Now()
	if !w.barrier(ctx, term) {
		return
	}
	pending, err := w.cfg.State.Pending()
	if err != nil {
		w.log.Error("takeover: cannot list open intents", logkey.Err, err)
		w.cfg.Fail(err)
		return
	}
	claims := make([]*inflight.Call, len(pending))
	for i, t := range pending {
		if c, owner := w.cfg.Calls.Join(t.ID); owner {
			claims[i] = c
		}
	}
	if w.cfg.Views.MarkServing(term) {
		w.metrics.takeovers.Inc()
		w.log.Info("takeover: serving", logkey.Term, term, "open_intents", len(pending), "took", time.Since(start))
		// The advices and reversals owed to acquirers, the business day:
		// this term's to do.
		for _, d := range w.cfg.Duties {
			w.terms.Go(func() { d.Run(ctx) })
		}
	}
	w.resolveAll(ctx, pending, claims)
	w.log.Info("takeover: open intents resolved", logkey.Term, term, "resolved", len(pending), "took", time.Since(start))
	w.sweep(ctx)
}

// barrier waits until this node has applied everything committed before
// its term; false when the term ends first.
func (w *Watcher) barrier(ctx context.Context, term uint64) bool {
	for {
		err := w.cfg.Raft.Barrier(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.log.Warn("takeover: barrier failed, retrying", logkey.Term, term, logkey.Err, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// resolveConcurrency bounds the open INTENTs resolved at once. After a
// crash at saturation there are as many as registers (2,000 measured), and
// each has its register's repeat waiting on it: resolved 64 at a time,
// each an acquirer round trip and an OUTCOME commit on a box still busy
// with the reconnecting fleet, the last waited 2-3 s after the kill. The
// acquirer links multiplex (a node's upstream may cap them: MaxInFlight)
// and the OUTCOMEs group-commit, so wider costs little but goroutines.
const resolveConcurrency = 1024

// resolveAll resolves open INTENTs, resolveConcurrency at a time: each
// waits on the acquirer, and there may be thousands after a crash under
// load. claims[i]
// is the in-flight call the caller holds for pending[i], or nil when
// another goroutine (a request of an earlier term on this node) still held
// it.
func (w *Watcher) resolveAll(ctx context.Context, pending []*store.Txn, claims []*inflight.Call) {
	sem := make(chan struct{}, resolveConcurrency)
	var wg sync.WaitGroup
	for i, t := range pending {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			// The term ended: release what is still claimed, so that
			// waiters wake up (with no answer) instead of hanging.
			for j := i; j < len(pending); j++ {
				if claims[j] != nil {
					w.cfg.Calls.Finish(pending[j].ID, claims[j], nil)
				}
			}
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(t *store.Txn, c *inflight.Call) {
			defer func() { <-sem; wg.Done() }()
			if c == nil {
				if c = w.cfg.Calls.ClaimWhenFree(ctx, t.ID); c == nil {
					return
				}
			}
			w.cfg.Calls.Finish(t.ID, c, w.cfg.Resolver.ResolveOpen(ctx, t.ID))
		}(t, claims[i])
	}
	wg.Wait()
}
