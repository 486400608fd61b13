package pipeline

import (
	"context"
	"log/slog"

	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/internal/peer"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Why a request was refused by the terminal registry: the label values of
// tillgate_terminal_refusals_total.
const (
	refusedUnknown  = "unknown"  // the terminal is not registered: 58
	refusedBlocked  = "blocked"  // the terminal is blocked: 58
	refusedStore    = "store"    // the client certificate names another store: 58
	refusedMerchant = "merchant" // DE42 is not the terminal's merchant: 03
	refusedError    = "error"    // the state could not be read: no answer, the register repeats
)

// admit checks a financial or batch request against the terminal registry
// of this node's replicated state, where the request entered the cluster
// (node/DESIGN.md, "Registered terminals"). It returns the request to go
// on with (DE42 set to the registered merchant when the register sent none)
// or the answer to give instead (nil for none: the register repeats).
// Nothing is proposed for a request it does not return.
//
// Only the active refuses. A standby's replica may lag the active's (a
// node restarted a moment ago is still replaying its log and knows no
// terminal at all), so a standby never answers a final refusal from it:
// what the active can judge (unknown, blocked, merchant) it relays, and the
// active decides with its own registry; what only this node can judge, the
// store of the register's client certificate (a relayed request reaches
// the active without it), it does not relay: it answers "not processed"
// (NP), and the register takes its request, and its certificate, to the
// active.
//
// On the active, a refusal never contradicts what the cluster recorded:
// an identity already recorded, or in progress here, goes on to get its
// recorded answer (a repeat of a sale approved before its terminal was
// blocked must hear "approved", or the register would think the card was
// not charged). A client certificate of another store is refused whatever
// was recorded: that sender is not the terminal.
func (p *Pipeline) admit(ctx context.Context, req *wire.Message, v *leadership.View) (*wire.Message, *wire.Message) {
	reason, rc, term := p.screen(ctx, req)
	if reason == "" {
		if req.MerchantID == "" {
			r := *req
			r.MerchantID = term.Merchant
			return &r, nil
		}
		return req, nil
	}
	id, hasPeer := peer.From(ctx)
	if !v.Leader {
		if reason == refusedStore || (id.Store != "" && reason == refusedUnknown) {
			p.metrics.terminalRefusals.WithLabelValues(refusedStore).Inc()
			p.logRequest(slog.LevelWarn, "request not relayed: its client certificate's store cannot be vouched for here; answered not processed",
				req, "reason", reason, logkey.Remote, id.Addr, "peer_store", id.Store)
			return nil, p.notProcessed(req, v)
		}
		return req, nil
	}
	if reason != refusedStore && reason != refusedError && req.Kind().Financial() {
		switch p.recorded(ctx, req) {
		case goOn:
			return req, nil
		case unsure:
			reason = refusedError
		}
	}
	p.metrics.terminalRefusals.WithLabelValues(reason).Inc()
	args := []any{"reason", reason, "rc", rc}
	if hasPeer {
		args = append(args, logkey.Remote, id.Addr, "peer_store", id.Store)
	}
	if reason == refusedError {
		// Whether the identity is recorded is unknown: any answer could
		// contradict the record.
		p.logRequest(slog.LevelError, "request not answered: the terminal registry or the record could not be read", req, args[:2]...)
		p.metrics.unanswered.Inc()
		return nil, nil
	}
	p.logRequest(slog.LevelWarn, "request refused by the terminal registry", req, args...)
	if !req.Kind().Financial() {
		p.metrics.batches.WithLabelValues(wire.OriginalMTI(req.MTI), rc).Inc()
		return nil, p.reply(req, v, rc)
	}
	return nil, p.answer(req, &store.Txn{RC: rc, Status: store.StatusDeclined}, SourceLocal, 0)
}

// screen decides what the registry says of req: a refusal reason and its
// RC, or "" and the terminal's record.
func (p *Pipeline) screen(ctx context.Context, req *wire.Message) (reason, rc string, term store.Terminal) {
	term, ok, err := p.cfg.State.Terminal(req.TerminalID)
	if err != nil {
		p.log.Error("terminal registry", logkey.Terminal, req.TerminalID, logkey.Err, err)
		return refusedError, "", term
	}
	id, _ := peer.From(ctx)
	switch {
	case !ok:
		return refusedUnknown, wire.RCNotPermittedTerminal, term
	case id.Store != "" && id.Store != term.Store:
		return refusedStore, wire.RCNotPermittedTerminal, term
	case req.MerchantID != "" && req.MerchantID != term.Merchant:
		return refusedMerchant, wire.RCInvalidMerchant, term
	case term.Blocked && !takenWhenBlocked(req.Kind()):
		return refusedBlocked, wire.RCNotPermittedTerminal, term
	}
	return "", "", term
}

// takenWhenBlocked: what a blocked terminal may still send. A reversal can
// only take money back, and the one of a sale approved before the block
// must be taken or the cardholder pays for a sale that did not happen; a
// batch's totals and upload move no money and let the last batch close.
// Everything else, advices and completions included, would charge a card.
func takenWhenBlocked(k wire.Kind) bool {
	return k.Reversal() || k == wire.KindReconcile || k == wire.KindBatchUpload
}

// What recorded found.
const (
	refuse = iota // nothing recorded: the refusal stands
	goOn          // recorded or in progress here
	unsure        // the record could not be read
)

// recorded says whether a request the registry refuses on the active must
// go on all the same: its identity is in progress or recorded. The active
// serves only once its state holds every entry an earlier term committed.
func (p *Pipeline) recorded(ctx context.Context, req *wire.Message) int {
	key := req.Key()
	if err := p.calls.Wait(ctx, key); err != nil {
		return unsure
	}
	_, ok, err := p.cfg.State.Get(key)
	switch {
	case err != nil:
		p.log.Error("terminal refusal: duplicate check failed", logkey.Txn, key, logkey.Err, err)
		return unsure
	case ok:
		return goOn
	}
	return refuse
}
