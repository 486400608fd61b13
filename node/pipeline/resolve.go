package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// decision is the OUTCOME to commit for a transaction, and what it owes the
// acquirer through the store-and-forward queue.
type decision struct {
	st       store.Status
	rc, auth string
	standIn  bool
	repeat   bool // the acquirer was asked by a repeat
	owed     []store.SAFKind
}

// resolve asks the acquirer about a committed INTENT and commits the
// OUTCOME. req is the register's request when this node received it (it
// holds the card data that is never stored); repeat says the acquirer may
// have seen the transaction already. It returns nil when the outcome is
// unknown: nothing final may be said, and the INTENT stays open for the
// sweep or the next active.
func (p *Pipeline) resolve(ctx context.Context, t *store.Txn, req *wire.Message, repeat bool, wait *acquirerWait) *store.Txn {
	return p.commitDecision(ctx, t, req, repeat, p.decide(ctx, t, req, repeat, wait))
}

// ResolveOpen resolves INTENT id if it is still open, as a repeat: a
// register's repeat may have resolved it already. The caller holds id's
// in-flight call (Calls). nil when the outcome stays unknown.
func (p *Pipeline) ResolveOpen(ctx context.Context, id string) *store.Txn {
	return p.resolveOpen(ctx, id, nil)
}

func (p *Pipeline) resolveOpen(ctx context.Context, id string, wait *acquirerWait) *store.Txn {
	t, ok, err := p.cfg.State.Get(id)
	if err != nil || !ok {
		return nil
	}
	if t.Status != store.StatusPending {
		return t
	}
	return p.resolve(ctx, t, nil, true, wait)
}

// resolveFirst resolves an INTENT this node has just proposed in term:
// asked as an original. If the term has moved on by the time the OUTCOME
// is committed (leadership went away and came back), another active may
// have resolved it meanwhile through a repeat, so the OUTCOME says Repeat.
func (p *Pipeline) resolveFirst(ctx context.Context, t *store.Txn, req *wire.Message, term uint64, wait *acquirerWait) *store.Txn {
	d := p.decide(ctx, t, req, false, wait)
	if p.cfg.Views.Current().Term != term {
		d.repeat = true
	}
	return p.commitDecision(ctx, t, req, false, d)
}

// commitDecision commits d (after a stand-in where it allows one).
func (p *Pipeline) commitDecision(ctx context.Context, t *store.Txn, req *wire.Message, repeat bool, d decision) *store.Txn {
	if errors.Is(ctx.Err(), context.Canceled) {
		// The node is stopping or lost its term: leave the INTENT open for
		// the next active rather than record an outcome nobody asked about.
		return nil
	}
	if d.rc == wire.RCIssuerInoperative && !repeat && !d.standIn {
		auth, release, ok := p.standInFor(t, req, d.st)
		if ok {
			defer release()
			d = standInDecision(d, auth)
		}
	}
	start := time.Now()
	res, err := p.cfg.Raft.Apply(ctx, p.outcomeCmd(t, d))
	p.metrics.commit.Observe(time.Since(start).Seconds())
	if err != nil {
		p.log.Warn("outcome not committed", logkey.Txn, t.ID, logkey.Err, err)
		return nil
	}
	r, ok := res.(store.Result)
	if !ok || r.Err != nil {
		p.refused("outcome", t.ID, commit.Err(res))
		return nil
	}
	if len(r.SAF) > 0 {
		p.cfg.SAF.Wake(t.Acquirer)
	}
	return r.Txn
}

// standInDecision approves d on the acquirer's behalf. The acquirer is owed
// an advice, and, when the first attempt may have reached it (a timeout),
// first a reversal of that attempt: the acquirer may have approved it, and
// the advice stands for the one approval.
func standInDecision(d decision, auth string) decision {
	owed := []store.SAFKind{store.SAFAdvice}
	if d.st == store.StatusUnknown {
		owed = []store.SAFKind{store.SAFCancel, store.SAFAdvice}
	}
	return decision{st: store.StatusApproved, rc: wire.RCApproved, auth: auth, standIn: true, repeat: d.repeat, owed: owed}
}

// decide works out the OUTCOME of t, asking the acquirer when it must.
//
// A reversal, a completion or an 0120 advice is the cluster's to deliver
// once committed: it is answered 00 whatever the acquirer can do right now,
// and what the acquirer did not take is owed through the store-and-forward
// queue (SAFForward). Only an authorization can end declined 91 (or unknown)
// because the acquirer is out.
func (p *Pipeline) decide(ctx context.Context, t *store.Txn, req *wire.Message, repeat bool, wait *acquirerWait) decision {
	forward := decision{st: store.StatusApproved, rc: wire.RCApproved, auth: t.AuthCode, owed: []store.SAFKind{store.SAFForward}}
	if t.Kind() == wire.KindPreAuthAdvice {
		return forward
	}
	if t.Type == store.TypeReversal && t.OriginalID != "" {
		// The original may have got its INTENT after this reversal looked
		// for it (newTxn): settle it first here too, so that the reversal
		// never goes to the acquirer ahead of it.
		if _, err := p.settled(ctx, t.OriginalID, wait); err != nil {
			p.log.Warn("original of a reversal not settled", logkey.Txn, t.ID, logkey.Err, err)
		}
	}
	m, local := p.acquirerRequest(t, req, repeat)
	if m == nil {
		return local
	}
	a := p.askAcquirer(ctx, t, m, wait)
	// Resolving an open INTENT (repeat) marks it whatever this attempt
	// did: an active that died before committing may have asked the
	// acquirer again already.
	forward.repeat = repeat
	switch {
	case t.Type == store.TypeReversal && a.acknowledged() && a.resp.ResponseCode != upstream.RCNoOriginal:
		return decision{st: store.StatusApproved, rc: wire.RCApproved, auth: a.resp.AuthCode, repeat: forward.repeat}
	case t.Type == store.TypeReversal:
		// Not taken, or "no such original" (25), which may mean not yet:
		// the queue sends it again until it is taken, or the original can
		// no longer arrive (the late window: saf.Options.LateWindow).
		return forward
	case t.Type == store.TypeCompletion && a.acknowledged():
		return answered(a.resp, forward.repeat)
	case t.Type == store.TypeCompletion:
		return forward
	case a.resp != nil && a.resp.ResponseCode == upstream.RCDuplicate:
		// The acquirer says it has this identity already, so it may have
		// approved it: not a decline (acquirer identities are unique, so
		// this should never happen; the checker counts it).
		p.log.Error("acquirer answered duplicate transmission: outcome unknown", logkey.Txn, t.ID)
		return decision{st: store.StatusUnknown, rc: wire.RCIssuerInoperative, repeat: forward.repeat,
			owed: []store.SAFKind{store.SAFReversal}}
	case a.resp != nil:
		return answered(a.resp, forward.repeat)
	case !a.sent && !repeat:
		// Never written: the acquirer knows nothing of it.
		return decision{st: store.StatusDeclined, rc: wire.RCIssuerInoperative}
	case t.Type == store.TypeBalance:
		// Nothing moved whatever the acquirer did: final, nothing owed.
		return decision{st: store.StatusDeclined, rc: wire.RCIssuerInoperative, repeat: forward.repeat}
	default:
		// Bytes may have left: the acquirer may have approved. The
		// reversal it is owed goes through store-and-forward.
		return decision{st: store.StatusUnknown, rc: wire.RCIssuerInoperative, repeat: forward.repeat,
			owed: []store.SAFKind{store.SAFReversal}}
	}
}

// answered is the acquirer's own answer to an authorization or completion.
func answered(resp *wire.Message, repeat bool) decision {
	st := store.StatusDeclined
	if resp.ResponseCode == wire.RCApproved {
		st = store.StatusApproved
	}
	return decision{st: st, rc: resp.ResponseCode, auth: resp.AuthCode, repeat: repeat}
}

// asked is what came of one request to the acquirer.
type asked struct {
	resp *wire.Message // the answer, if one came
	sent bool          // bytes may have reached the acquirer
}

// acknowledged reports an answer that takes a reversal or advice: a format
// error, a system error or "inoperative" means the acquirer did nothing with
// it (upstream.Acknowledges).
func (a asked) acknowledged() bool {
	return a.resp != nil && upstream.Acknowledges(a.resp.ResponseCode)
}

func (p *Pipeline) askAcquirer(ctx context.Context, t *store.Txn, m *wire.Message, wait *acquirerWait) asked {
	if err := p.cfg.Health.Halted(); err != nil {
		// Nothing this node learns could be committed any more: the
		// acquirer is left to the next active.
		p.log.Warn("not asking the acquirer: this node has stopped", logkey.Txn, t.ID, logkey.Err, err)
		return asked{}
	}
	start := time.Now()
	resp, err := p.cfg.Acquirers.Send(ctx, t.Acquirer, m)
	if errors.Is(err, upstream.ErrAtLimit) {
		p.metrics.acquirerErrors.WithLabelValues("at_limit").Inc()
		return asked{}
	}
	p.metrics.acquirer.Observe(time.Since(start).Seconds())
	wait.add(time.Since(start))
	switch {
	case err == nil:
		return asked{resp: resp, sent: true}
	case errors.Is(err, acquirer.ErrUnavailable):
		p.metrics.acquirerErrors.WithLabelValues("unavailable").Inc()
		return asked{}
	default:
		p.metrics.acquirerErrors.WithLabelValues("unknown").Inc()
		p.log.Warn("acquirer outcome unknown", logkey.Txn, t.ID, logkey.Err, err)
		return asked{sent: true}
	}
}

// acquirerRequest builds what goes upstream for t. It returns nil and the
// decision when the node answers by itself: a reversal of something the
// acquirer never approved has nothing to reverse.
func (p *Pipeline) acquirerRequest(t *store.Txn, req *wire.Message, repeat bool) (*wire.Message, decision) {
	m := upstream.Message(t, t.MTI, t.AcqSTAN, t.AcqTime)
	if t.OriginalID != "" {
		orig, ok, err := p.cfg.State.Get(t.OriginalID)
		switch {
		case err != nil:
			// Cannot be built now: owed, and built again from the state
			// when the store-and-forward sender sends it.
			p.log.Error("original of a reversal or completion unreadable: owed to the acquirer", logkey.Txn, t.ID, logkey.Err, err)
			return nil, decision{st: store.StatusApproved, rc: wire.RCApproved, auth: t.AuthCode, owed: []store.SAFKind{store.SAFForward}}
		case !ok && t.Type == store.TypeReversal:
			return nil, decision{st: store.StatusApproved, rc: wire.RCApproved}
		case !ok:
			return nil, decision{st: store.StatusDeclined, rc: upstream.RCNoOriginal}
		case t.Type == store.TypeReversal && (orig.Status == store.StatusDeclined || orig.Status == store.StatusReversed):
			return nil, decision{st: store.StatusApproved, rc: wire.RCApproved}
		case t.Type == store.TypeReversal && orig.StandIn:
			// The acquirer knows a stand-in by its advice, which may still
			// be queued: the reversal goes after it, through the same
			// queue.
			return nil, decision{st: store.StatusApproved, rc: wire.RCApproved, owed: []store.SAFKind{store.SAFForward}}
		}
		m.OriginalData = upstream.OriginalDataOf(orig)
	} else if t.Type == store.TypeReversal {
		return nil, decision{st: store.StatusApproved, rc: wire.RCApproved}
	}
	if req != nil {
		m.PAN, m.Expiry, m.POSEntryMode, m.POSCondition = req.PAN, req.Expiry, req.POSEntryMode, req.POSCondition
		m.Track2, m.PINBlock, m.ICC = req.Track2, req.PINBlock, req.ICC
		if cvc, ok := req.Private.Get(wire.TagCVC); ok {
			// Card data like the PIN block: the request's own, never
			// stored, so a repeat resolved later goes without it.
			m.Private.Set(wire.TagCVC, cvc)
		}
	}
	if (req == nil || m.PAN == "" && m.Track2 == "" && t.Type == store.TypeCompletion) && t.PANEnc != nil {
		// Resolved later, or a completion that names its card only by
		// its original (a register's queue keeps no card): the card the
		// INTENT holds, sealed.
		if pan, err := p.cfg.Vault.Open(t.PANEnc, t.ID); err == nil {
			m.PAN = pan
		}
	}
	if repeat {
		m.MTI = wire.RepeatMTI(m.MTI)
	}
	return m, decision{}
}

// outcomeCmd is the OUTCOME command of decision d for t. Whatever d owes
// the acquirer (a reversal of an unknown outcome, a stand-in's advice, a
// forwarded reversal or completion) is enqueued by the same command, so
// nothing owed can be lost between two commits. The entries' acquirer
// identities come from the replicated state (store: enqueue).
func (p *Pipeline) outcomeCmd(t *store.Txn, d decision) []byte {
	o := store.Outcome{ID: t.ID, Status: d.st, RC: d.rc, AuthCode: d.auth, StandIn: d.standIn, At: time.Now().UnixNano(), Repeat: d.repeat}
	if len(d.owed) == 0 {
		return store.OutcomeCmd(o)
	}
	acq := p.cfg.Acquirers.Resolve(t.Acquirer)
	entries := make([]store.SAFEntry, len(d.owed))
	for i, k := range d.owed {
		entries[i] = store.SAFEntry{Acquirer: acq, Kind: k}
	}
	return store.OutcomeSAFCmd(o, entries...)
}
