package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/inflight"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Where an answer came from: a label of tillgate_transactions_total, and
// Outcome.Source.
const (
	SourceAcquirer  = "acquirer"
	SourceDuplicate = "duplicate"
	SourceLocal     = "local"
	SourceStandIn   = "stand-in" // approved by this cluster while the acquirer was out
)

// transact runs the authorization path for one financial identity.
// proposed says that this node may already have proposed the request's
// INTENT (repeatAtNextActive hands such a request on): then the register
// must never be told "not processed", which would let it skip its
// reversal.
func (p *Pipeline) transact(ctx context.Context, req *wire.Message, proposed bool) *wire.Message {
	v := p.cfg.Views.Current()
	if !v.Leader {
		return p.relayToActive(ctx, req, proposed)
	}
	if !v.Serving {
		lost := v
		if v = p.cfg.Views.WaitServing(ctx); v == nil {
			return p.repeatAtNextActive(ctx, req, lost, proposed)
		}
	}
	key := req.Key()
	c, owner := p.calls.Join(key)
	if !owner {
		return p.awaitCall(ctx, req, c)
	}
	var wait acquirerWait
	t, src := p.transactOwned(ctx, req, key, &wait)
	p.calls.Finish(key, c, t)
	if t == nil {
		return p.repeatAtNextActive(ctx, req, v, true)
	}
	return p.answer(req, t, src, wait.total)
}

// awaitCall answers a repeat that arrived while its original is in
// progress on this node with what the original's call ends in.
func (p *Pipeline) awaitCall(ctx context.Context, req *wire.Message, c *inflight.Call) *wire.Message {
	p.metrics.repeatsWaited.Inc()
	select {
	case <-c.Done():
	case <-ctx.Done():
		return nil
	}
	return p.answer(req, c.Txn(), SourceDuplicate, 0)
}

// acquirerWait adds up the time one register request spent waiting on
// acquirers: its own attempt, and that of an open original it settled
// first. Its answer reports it (DE48 AQ). nil when no register request
// waits (a takeover, the sweep).
type acquirerWait struct{ total time.Duration }

func (w *acquirerWait) add(d time.Duration) {
	if w != nil {
		w.total += d
	}
}

// nextActivePoll is how often repeatAtNextActive looks for the next active.
const nextActivePoll = 20 * time.Millisecond

// repeatAtNextActive is the carry-on: it handles a request that got no
// answer while this node led in the term of lost, or that it relayed in that
// term to an active that did not answer. If the node has lost that
// leadership since (a new term or a follower now), the request's outcome is
// unknown here: instead of leaving the register to wait for its attempt
// timeout and repeat, it waits for the next active and hands the request on
// as a repeat (relayed, or handled here if this node leads again), which is
// exactly what the register's own repeat would do: the new active answers
// what an INTENT recorded, resolves an open one, or authorizes one that
// never got appended. Still leading in the same term, or no new active
// before ctx ends: no answer, as before.
func (p *Pipeline) repeatAtNextActive(ctx context.Context, req *wire.Message, lost *leadership.View, proposed bool) *wire.Message {
	if v := p.cfg.Views.Current(); v.Leader && v.Term == lost.Term {
		return nil
	}
	t := time.NewTicker(nextActivePoll)
	defer t.Stop()
	for {
		if v := p.cfg.Views.Current(); v.Term > lost.Term && (v.Leader || v.ActiveAddr != "") {
			break
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		case <-p.cfg.Closing: // closing: no next active will show here
			return nil
		}
	}
	p.metrics.carriedOn.Inc()
	rep := *req
	rep.MTI = wire.RepeatMTI(req.MTI)
	return p.transact(ctx, &rep, proposed)
}

func (p *Pipeline) transactOwned(ctx context.Context, req *wire.Message, key string, wait *acquirerWait) (*store.Txn, string) {
	// Only a repeat is looked up before its INTENT: for a first request the
	// INTENT finds an identity already recorded anyway (r.Existed below),
	// and a read transaction per request is a cost every transaction pays.
	if !wire.IsRepeat(req.MTI) {
		return p.transactNew(ctx, req, key, wait)
	}
	if t, ok, err := p.cfg.State.Get(key); err != nil {
		p.log.Error("duplicate check failed", logkey.Err, err)
		return nil, ""
	} else if ok {
		if t.Status != store.StatusPending {
			return t, SourceDuplicate
		}
		// An INTENT of an earlier term the takeover has not reached yet,
		// or one whose OUTCOME this node has not applied.
		if t, err = p.current(ctx, key); err != nil || t == nil {
			p.log.Warn("repeat of an open intent not resolved", logkey.Txn, key, logkey.Err, err)
			return nil, ""
		}
		if t.Status != store.StatusPending {
			return t, SourceDuplicate
		}
		return p.resolve(ctx, t, nil, true, wait), SourceAcquirer
	}
	return p.transactNew(ctx, req, key, wait)
}

// transactNew commits the INTENT of req and sees it through, or answers
// what an INTENT of the same identity recorded before.
func (p *Pipeline) transactNew(ctx context.Context, req *wire.Message, key string, wait *acquirerWait) (*store.Txn, string) {
	term := p.cfg.Views.Current().Term
	t, rc := p.newTxn(ctx, req, wait)
	if rc != "" {
		return &store.Txn{RC: rc, Status: store.StatusDeclined}, SourceLocal
	}
	start := time.Now()
	res, err := p.cfg.Raft.Apply(ctx, store.IntentCmd(t))
	p.metrics.commit.Observe(time.Since(start).Seconds())
	if err != nil {
		if !errors.Is(err, cluster.ErrNotLeader) {
			p.log.Warn("intent outcome unknown", logkey.Txn, key, logkey.Err, err)
		}
		// Not leader: never appended. Otherwise it may be in the log: no
		// final answer either way; the carry-on or the register's repeat
		// finds out.
		return nil, ""
	}
	r, ok := res.(store.Result)
	if !ok || r.Err != nil {
		err := commit.Err(res)
		p.refused("intent", key, err)
		if errors.Is(err, store.ErrFailed) {
			// The INTENT is in the log and another replica will apply
			// it (the next active resolves it): any answer from here
			// could be contradicted.
			return nil, ""
		}
		// Refused by the rules, the same on every replica: nothing was
		// recorded anywhere.
		return &store.Txn{RC: wire.RCSystemError, Status: store.StatusDeclined}, SourceLocal
	}
	if r.Existed {
		if r.Txn.Status != store.StatusPending {
			return r.Txn, SourceDuplicate
		}
		return p.resolve(ctx, r.Txn, nil, true, wait), SourceAcquirer
	}
	if r.Txn.Status != store.StatusPending {
		// Final on arrival: its reversal came first (store.RCReversedFirst).
		return r.Txn, SourceLocal
	}
	return p.resolveFirst(ctx, r.Txn, req, term, wait), SourceAcquirer
}

// refused logs a command the state machine refused, and stops the node if
// the state machine has stopped (commit.Refused).
func (p *Pipeline) refused(what, id string, err error) {
	commit.Refused(p.log, p.cfg.Health.Fail, what, id, err)
}
