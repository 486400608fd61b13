package saf

import (
	"fmt"

	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// message builds what entry e sends (as a repeat, xx21/xx01, when it
// may have reached the acquirer before). Each kind names what it is about in
// DE90 as the acquirer saw it:
//
//	reversal, cancel  0420 under the entry's own STAN, DE90 the transaction
//	advice            0220 under the transaction's own STAN and DE7, DE90
//	                  the transaction, DE38 the stand-in's code, DE2 the card
//	forward           the transaction's own message under its own identity:
//	                  a reversal names its original, a completion its
//	                  pre-auth (with the card), an 0120 carries its card and
//	                  approval code
func (f *Forwarder) message(e store.SAFEntry, t *store.Txn, repeat bool) (*wire.Message, error) {
	m := upstream.Message(t, "", e.STAN, e.AcqTime)
	m.OriginalData = upstream.OriginalData(t)
	switch e.Kind {
	case store.SAFReversal, store.SAFCancel:
		m.MTI = wire.MTIReversalAdvice
	case store.SAFAdvice:
		pan, err := f.cfg.Vault.Open(t.PANEnc, t.ID)
		if err != nil {
			return nil, fmt.Errorf("card of %s: %w", t.ID, err)
		}
		m.MTI, m.PAN, m.AuthCode, m.ResponseCode = wire.MTIFinancialAdvice, pan, t.AuthCode, wire.RCApproved
		m.Private.Set(wire.TagStandIn, "1")
	case store.SAFForward:
		if err := f.forwardMessage(m, t); err != nil {
			return nil, err
		}
		// A reversal or completion was tried once on the request's path.
		repeat = repeat || t.Kind() != wire.KindPreAuthAdvice
	default:
		return nil, fmt.Errorf("saf kind %v", e.Kind)
	}
	if repeat {
		m.MTI = wire.RepeatMTI(m.MTI)
	}
	return m, nil
}

// forwardMessage turns m into t's own message.
func (f *Forwarder) forwardMessage(m *wire.Message, t *store.Txn) error {
	m.MTI, m.OriginalData = t.MTI, ""
	if t.OriginalID != "" {
		orig, ok, err := f.cfg.State.Get(t.OriginalID)
		if err != nil || !ok {
			return fmt.Errorf("original %s of %s: found %v: %w", t.OriginalID, t.ID, ok, err)
		}
		m.OriginalData = upstream.OriginalDataOf(orig)
	}
	if t.Type == store.TypeReversal {
		return nil
	}
	pan, err := f.cfg.Vault.Open(t.PANEnc, t.ID)
	if err != nil {
		return fmt.Errorf("card of %s: %w", t.ID, err)
	}
	m.PAN = pan
	if t.Kind() == wire.KindPreAuthAdvice {
		m.AuthCode = t.AuthCode
	}
	return nil
}
