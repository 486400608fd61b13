package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/node/internal/card"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// newTxn turns a request into the INTENT to commit. A non-empty rc declines
// the request without storing it: nothing was authorized, and a repeat gets
// the same answer for the same reason. The acquirer STAN and the RRN are
// left to Apply, which takes them from the replicated state.
func (p *Pipeline) newTxn(ctx context.Context, req *wire.Message, wait *acquirerWait) (*store.Txn, string) {
	t := &store.Txn{
		ID:               req.Key(),
		MTI:              wire.OriginalMTI(req.MTI),
		ProcCode:         req.ProcCode,
		Amount:           req.Amount,
		Currency:         req.Currency,
		TerminalID:       req.TerminalID,
		MerchantID:       req.MerchantID,
		STAN:             req.STAN,
		TransmissionTime: req.TransmissionTime,
		LocalTime:        req.LocalTime,
		LocalDate:        req.LocalDate,
		CreatedAt:        time.Now().UnixNano(),
	}
	t.Type = store.TypeOf(req.Kind())
	if t.Kind() == wire.KindPreAuthAdvice {
		// An advice of what the register approved offline: its approval
		// code is the answer, and stays with the INTENT so that a new
		// active answers the same.
		t.AuthCode = adviceAuthCode(req)
	}
	pan := card.Number(req)
	if t.Type == store.TypeCompletion || t.Type == store.TypeReversal {
		orig, rc := p.original(ctx, req, t.Type, wait)
		if rc != "" {
			return nil, rc
		}
		// Set even when the original is unknown: the store then cancels
		// the original should it arrive after its reversal.
		t.OriginalID = originalKey(req)
		if orig != nil {
			// The original's card, sealed again for this transaction: a
			// sealed card opens only for the transaction it was sealed
			// for.
			if clear, err := p.cfg.Vault.Open(orig.PANEnc, orig.ID); err == nil {
				pan = clear
			} else if orig.PANEnc != nil {
				p.log.Error("card vault: the original's card", logkey.Err, err)
			}
			t.BIN, t.Last4, t.PANHash = orig.BIN, orig.Last4, orig.PANHash
			t.Acquirer = orig.Acquirer // a reversal or completion goes where its original went
			if t.MerchantID == "" {
				t.MerchantID = orig.MerchantID
			}
		}
	}
	if t.PANEnc == nil && pan != "" {
		if !wire.ValidatePAN(pan) {
			return nil, wire.RCInvalidCard
		}
		enc, bin, last4, hash, err := p.cfg.Vault.Seal(pan, t.ID)
		if err != nil {
			p.log.Error("card vault", logkey.Err, err)
			return nil, wire.RCSystemError
		}
		t.PANEnc, t.BIN, t.Last4, t.PANHash = enc, bin, last4, hash
	}
	if t.PANEnc == nil && t.Type != store.TypeReversal {
		return nil, wire.RCInvalidCard
	}
	if t.Amount <= 0 && t.Type != store.TypeBalance && t.Type != store.TypeReversal {
		return nil, wire.RCInvalidAmount
	}
	if t.Acquirer == "" {
		t.Acquirer = p.cfg.Acquirers.Route(pan)
	}
	t.AcqTime = time.Now().UTC().Format("0102150405")
	return t, ""
}

// adviceAuthCode is the approval code of an 0120: the register's DE38, or
// one made from its identity when it sent none.
func adviceAuthCode(req *wire.Message) string {
	if req.AuthCode != "" {
		return req.AuthCode
	}
	return "Y" + req.STAN[1:]
}

// original finds the transaction that DE90 of a completion or reversal
// names, once it is settled: one still in progress here is waited for, and
// one left open (pending, nobody working on it) is resolved first, so that a
// reversal never reaches the acquirer before what it reverses. A reversal
// whose original is unknown is still recorded (and acknowledged): the
// register gave up on it, and nothing was authorized here. A completion
// needs an approved original.
func (p *Pipeline) original(ctx context.Context, req *wire.Message, typ store.TxnType, wait *acquirerWait) (*store.Txn, string) {
	if len(req.OriginalData) < 20 {
		return nil, wire.RCFormatError
	}
	key := originalKey(req)
	orig, err := p.settled(ctx, key, wait)
	switch {
	case err != nil:
		p.log.Error("original lookup", logkey.Txn, key, logkey.Err, err)
		return nil, wire.RCSystemError
	case typ == store.TypeReversal:
		return orig, ""
	case orig == nil || orig.Status != store.StatusApproved:
		return nil, upstream.RCNoOriginal
	default:
		return orig, ""
	}
}

// settled returns transaction id once nothing is working on it: it waits
// for this node's call in flight, and resolves an open INTENT nobody owns.
// It returns the transaction as it then stands (nil if unknown); it may
// still be pending when its resolution failed (the store then settles a
// reversal of it when the outcome comes: store.reversedWhilePending).
func (p *Pipeline) settled(ctx context.Context, id string, wait *acquirerWait) (*store.Txn, error) {
	if err := p.calls.Wait(ctx, id); err != nil {
		return nil, err
	}
	t, ok, err := p.cfg.State.Get(id)
	if err != nil || !ok {
		return nil, err
	}
	if t.Status != store.StatusPending {
		return t, nil
	}
	if t, err = p.current(ctx, id); err != nil || t == nil || t.Status != store.StatusPending {
		return t, err
	}
	if c := p.calls.ClaimWhenFree(ctx, id); c != nil {
		r := p.resolveOpen(ctx, id, wait)
		p.calls.Finish(id, c, r)
		if r != nil {
			return r, nil
		}
	}
	if t, ok, err = p.cfg.State.Get(id); err != nil || !ok {
		return nil, err
	}
	return t, nil
}

// current reads transaction id once this node has proved that it still
// leads and has applied everything committed (Barrier). A transaction that
// is pending in a state this node read may have its OUTCOME committed
// already: a leader that was paused or cut off, and does not know yet that
// it was deposed, must not ask the acquirer about it again (the acquirer
// would see a repeat that no node records). Only the rare paths that
// resolve an INTENT they did not propose pay for the round trip.
func (p *Pipeline) current(ctx context.Context, id string) (*store.Txn, error) {
	if err := p.cfg.Raft.Barrier(ctx); err != nil {
		return nil, fmt.Errorf("pipeline: %s: leadership not confirmed: %w", id, err)
	}
	t, ok, err := p.cfg.State.Get(id)
	if err != nil || !ok {
		return nil, err
	}
	return t, nil
}

// originalKey is the identity DE90 names: the same terminal, the original
// STAN and DE7.
func originalKey(req *wire.Message) string {
	return req.TerminalID + req.OriginalData[4:10] + req.OriginalData[10:20]
}
