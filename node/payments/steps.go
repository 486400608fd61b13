package payments

import (
	"context"
	"errors"
	"net/http"

	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

var errUnexpected = errors.New("payments: the log answered something that is not a store result")

// capture is POST /v1/payments/{id}/capture {amount}: the completion (0220)
// of a manual payment's pre-auth, for all of it or less (once). Without an
// amount it captures the whole authorization.
func (s *Server) capture(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	s.step(w, r, m, "POST /v1/payments/{id}/capture", store.StepCapture)
}

// void is POST /v1/payments/{id}/void: the reversal (0400) of a manual
// payment's uncaptured pre-auth.
func (s *Server) void(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	s.step(w, r, m, "POST /v1/payments/{id}/void", store.StepVoid)
}

// refund is POST /v1/payments/{id}/refunds {amount}: a refund (0200, DE3
// 20xxxx) to the payment's card; several, up to what was captured. The
// Idempotency-Key makes a retry the same refund; without one every call is
// a new refund. Without an amount it refunds what is left.
func (s *Server) refund(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	s.step(w, r, m, "POST /v1/payments/{id}/refunds", store.StepRefund)
}

// step records a capture, void or refund of the payment (the store's rules
// decide whether it may be) and runs it through the pipeline. The same
// call again finds the step recorded and sends the same identity as a
// repeat.
func (s *Server) step(w http.ResponseWriter, r *http.Request, m *store.Merchant, route string, kind store.StepKind) {
	key, e := idempotencyKey(r)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	var req AmountRequest
	if kind == store.StepVoid {
		e = decode(r, &struct{}{}, true)
	} else if e = decode(r, &req, true); e == nil {
		e = checkAmount(req.Amount, false)
	}
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	p, e := s.payment(r, m)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	amount, e := s.stepAmount(p, kind, req.Amount)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	auth, ok, err := s.cfg.State.Get(p.Steps[0].TxnID)
	if err != nil || !ok || auth.PANEnc == nil {
		s.fail(w, r, route, apiErr(http.StatusConflict, "payment_state", "", "payment %s is not authorized (its outcome is not known here yet): retry the payment first", p.ID))
		return
	}
	pan, err := s.cfg.Vault.Open(auth.PANEnc, auth.ID)
	if err != nil {
		s.log.Error("payments: card vault", "payment", p.ID, "err", err)
		s.fail(w, r, route, apiErr(http.StatusServiceUnavailable, "unavailable", "", "the card could not be read: retry"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	now := s.cfg.Clock()
	res, err := s.cfg.Raft.Apply(ctx, store.PaymentStepCmd(p.ID, store.PaymentStep{
		Kind: kind, IdemKey: key, Amount: amount, DE7: wire.TransmissionTime(now), At: now.UnixNano(),
	}))
	sr, ok := res.(store.Result)
	switch {
	case err != nil:
		s.fail(w, r, route, commitErr(err, kind.String()))
		return
	case !ok:
		s.fail(w, r, route, commitErr(errUnexpected, kind.String()))
		return
	case sr.Err != nil:
		s.fail(w, r, route, commitErr(sr.Err, kind.String()))
		return
	}
	if sr.Existed {
		s.metrics.retries.Inc()
	}
	s.runStep(w, r, route, sr.Payment, sr.Step, heldCard{pan: pan}, sr.Existed)
}

// stepAmount is the amount of a step: a void reverses the whole
// authorization; a capture without an amount takes all of it, a refund
// without one what is left of the captured amount.
func (s *Server) stepAmount(p *store.Payment, kind store.StepKind, asked *int64) (int64, *apiError) {
	switch {
	case kind == store.StepVoid:
		return p.Amount, nil
	case asked != nil:
		return *asked, nil
	case kind == store.StepCapture:
		return p.Amount, nil
	}
	states, err := s.states(p, nil)
	if err != nil {
		return 0, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry")
	}
	v := view(p, states)
	if left := v.AmountCaptured - v.AmountRefunded; left > 0 {
		return left, nil
	}
	return 0, apiErr(http.StatusConflict, "payment_state", "", "payment %s has nothing left to refund", p.ID)
}
