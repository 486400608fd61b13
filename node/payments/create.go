package payments

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// paymentID is the id of merchant's payment under idempotency key: the
// same on every node and every retry, so that the record of the first
// call is found.
func paymentID(merchant, key string) string {
	h := sha256.Sum256([]byte(merchant + "\x00" + key))
	return "pay_" + hex.EncodeToString(h[:12])
}

// randomKey stands in for an absent Idempotency-Key: such a call is never
// taken for a retry.
func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "auto-" + hex.EncodeToString(b)
}

// create is POST /v1/payments: ask the issuer's ACS whether the
// cardholder must be authenticated, record the payment and the identity
// of its authorization, then authorize through the pipeline, or answer
// requires_authentication with the challenge's URL. A retry (the same
// Idempotency-Key and request) finds the record and sends the same
// identity again as a repeat: the pipeline answers what it recorded, or
// resolves an INTENT left open, or authorizes one that never got appended.
func (s *Server) create(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	const route = "POST /v1/payments"
	key, e := idempotencyKey(r)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	var req PaymentRequest
	if e := decode(r, &req, false); e != nil {
		s.fail(w, r, route, e)
		return
	}
	c, e := req.check(s.cfg.Clock())
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	if key == "" {
		key = randomKey()
	}
	p, v, e := s.pay(r.Context(), m, key, c, nil)
	if p != nil {
		if rw, ok := w.(*recorder); ok {
			rw.payment = p.ID
		}
	}
	if e != nil {
		if e.body.Code == "outcome_unknown" || e.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		s.fail(w, r, route, e)
		return
	}
	s.writeView(w, r, v)
}

// pay makes (or finds again, on a retry) merchant m's payment under key
// for card c, as an attempt to pay link when it is not nil. It returns the
// payment as recorded and as the API shows it; on a refusal the payment,
// when one stands in the way (the link's attempt in progress), and why.
func (s *Server) pay(ctx context.Context, m *store.Merchant, key string, c *checkedPayment, link *store.Link) (*store.Payment, *PaymentView, *apiError) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if link != nil {
		defer s.links.lock(link.ID)()
	}
	id := paymentID(m.ID, key)
	var auth store.PaymentAuth
	if old, err := s.cfg.State.Payment(id); err != nil {
		return nil, nil, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry with the same Idempotency-Key")
	} else if old == nil {
		// Only a new payment asks the ACS: a retry keeps the answer
		// recorded with the first call.
		var e *apiError
		if auth, e = s.authentication(ctx, m, c); e != nil {
			return nil, nil, e
		}
	}
	now := s.cfg.Clock()
	de7 := wire.TransmissionTime(now)
	rec := store.Payment{
		ID: id, Merchant: m.ID, IdemKey: key, Fingerprint: c.fingerprint(s.cfg.Vault),
		Amount: c.amount, Currency: c.currency, Manual: c.manual, OrderID: c.orderID, Description: c.description,
		Brand: brand(c.pan), Last4: c.pan[len(c.pan)-4:], At: now.UnixNano(), Auth: auth,
		Steps: []*store.PaymentStep{{Kind: store.StepAuth, IdemKey: key, Amount: c.amount, DE7: de7, At: now.UnixNano()}},
	}
	if link != nil {
		rec.Link = link.ID
	}
	res, err := s.cfg.Raft.Apply(ctx, store.PaymentCreateCmd(rec))
	r2, ok := res.(store.Result)
	switch {
	case err != nil:
		return nil, nil, commitErr(err, "payment")
	case !ok:
		return nil, nil, commitErr(errUnexpected, "payment")
	case r2.Err != nil && r2.Existed:
		return nil, nil, apiErr(http.StatusConflict, "idempotency_key_reused", "Idempotency-Key",
			"Idempotency-Key %q was used for another request (payment %s): send a new key for a new payment", key, r2.Payment.ID)
	case r2.Err != nil && link != nil:
		return r2.Payment, nil, linkRefusal(r2.Err, link)
	case r2.Err != nil:
		return nil, nil, commitErr(r2.Err, "payment")
	}
	p := r2.Payment
	if r2.Existed {
		s.metrics.retries.Inc()
	}
	card := heldCard{pan: c.pan, expiry: c.expiry, cvc: c.cvc}
	switch p.Auth.Status {
	case store.AuthPending:
		s.hold.put(p.ID, card)
		s.metrics.auth.WithLabelValues("challenge").Inc()
		v, e := s.viewOf(p, nil)
		return p, v, e
	case store.AuthFailed:
		v, e := s.viewOf(p, nil)
		return p, v, e
	case store.AuthNotRequired:
		if !r2.Existed {
			s.metrics.auth.WithLabelValues("not_required").Inc()
		}
	}
	if link != nil {
		if e := s.latestAttempt(p); e != nil {
			return p, nil, e
		}
	}
	v, e := s.execStep(ctx, p, p.Steps[0], card, r2.Existed)
	return p, v, e
}

// runStep sends step st of p through the pipeline (a repeat when the call
// is a retry) and answers with the payment.
func (s *Server) runStep(w http.ResponseWriter, r *http.Request, route string, p *store.Payment, st *store.PaymentStep, card heldCard, retry bool) {
	if rw, ok := w.(*recorder); ok {
		rw.payment = p.ID
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	v, e := s.execStep(ctx, p, st, card, retry)
	if e != nil {
		if e.body.Code == "outcome_unknown" {
			w.Header().Set("Retry-After", "1")
		}
		s.fail(w, r, route, e)
		return
	}
	s.writeView(w, r, v)
}

// execStep sends step st of p through the pipeline (a repeat when the
// call is a retry) and returns the payment as it then stands. A step whose
// transaction is final already is not sent again: its outcome is recorded.
func (s *Server) execStep(ctx context.Context, p *store.Payment, st *store.PaymentStep, card heldCard, retry bool) (*PaymentView, *apiError) {
	fresh := map[string]stepState{}
	t, known, err := s.cfg.State.Get(st.TxnID)
	if err != nil {
		return nil, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry with the same Idempotency-Key")
	}
	if !known || t.Status == store.StatusPending {
		// A retry goes as a repeat even when this node has no INTENT of
		// it: an active that died may have appended one this node has not
		// applied yet, and only a repeat is looked up first.
		resp := s.cfg.Handler.Handle(ctx, stepMessage(p, st, card.pan, card.expiry, card.cvc, retry || known))
		if resp == nil {
			s.metrics.unknown.Inc()
			return nil, apiErr(http.StatusServiceUnavailable, "outcome_unknown", "",
				"the %s of payment %s has no outcome yet (the active changed, or the acquirer did not answer): retry the same call with the same Idempotency-Key; it will not be charged twice", st.Kind, p.ID)
		}
		fresh[st.TxnID] = answered(resp)
	}
	if st.Kind == store.StepAuth {
		s.hold.drop(p.ID)
	}
	return s.viewOf(p, fresh)
}

// viewOf is p as it now stands.
func (s *Server) viewOf(p *store.Payment, fresh map[string]stepState) (*PaymentView, *apiError) {
	states, err := s.states(p, fresh)
	if err != nil {
		s.log.Error("payments: state", "payment", p.ID, "err", err)
		return nil, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry")
	}
	return view(p, states), nil
}

// writeView answers with v, its challenge URL made absolute on the
// address the client called.
func (s *Server) writeView(w http.ResponseWriter, r *http.Request, v *PaymentView) {
	absolute(r, v)
	writeJSON(w, http.StatusOK, v)
}

// answer writes p as it now stands.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, route string, p *store.Payment, fresh map[string]stepState) {
	v, e := s.viewOf(p, fresh)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	s.writeView(w, r, v)
}

// get is GET /v1/payments/{id}.
func (s *Server) get(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	const route = "GET /v1/payments/{id}"
	p, e := s.payment(r, m)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	if rw, ok := w.(*recorder); ok {
		rw.payment = p.ID
	}
	s.answer(w, r, route, p, nil)
}

// payment is the {id} of the path, if it is the merchant's.
func (s *Server) payment(r *http.Request, m *store.Merchant) (*store.Payment, *apiError) {
	id := r.PathValue("id")
	p, err := s.cfg.State.Payment(id)
	switch {
	case err != nil:
		return nil, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry")
	case p == nil || p.Merchant != m.ID:
		return nil, apiErr(http.StatusNotFound, "not_found", "id", "no payment %q", id)
	}
	return p, nil
}

// PaymentList is the answer of GET /v1/payments.
type PaymentList struct {
	Data []*PaymentView `json:"data"`
	// NextCursor continues the list (cursor=...); empty at its end.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Paging limits.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// list is GET /v1/payments?status=&from=&to=&limit=&cursor=: the
// merchant's payments, oldest first. from and to are RFC 3339 times
// (created at from <= t < to).
func (s *Server) list(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	const route = "GET /v1/payments"
	q := r.URL.Query()
	status := q.Get("status")
	if status != "" && !statuses[status] {
		s.fail(w, r, route, invalid("status", "status must be one of requires_authentication, pending, authorized, captured, declined, voided, refunded"))
		return
	}
	from, e := timeParam(q.Get("from"), "from", 0)
	if e == nil {
		var to int64
		to, e = timeParam(q.Get("to"), "to", 1<<62)
		if e == nil && to <= from {
			e = invalid("to", "to must be after from")
		}
		if e == nil {
			s.listRange(w, r, m, status, from, to)
			return
		}
	}
	s.fail(w, r, route, e)
}

func (s *Server) listRange(w http.ResponseWriter, r *http.Request, m *store.Merchant, status string, from, to int64) {
	const route = "GET /v1/payments"
	q := r.URL.Query()
	limit := defaultLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			s.fail(w, r, route, invalid("limit", "limit must be 1 to %d", maxLimit))
			return
		}
		limit = n
	}
	cursor := q.Get("cursor")
	out := PaymentList{Data: []*PaymentView{}}
	for {
		page, next, err := s.cfg.State.Payments(m.ID, from, to, cursor, limit)
		if err != nil {
			s.fail(w, r, route, invalid("cursor", "cursor %q is not one this API returned", cursor))
			return
		}
		for i, p := range page {
			states, err := s.states(p, nil)
			if err != nil {
				s.fail(w, r, route, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry"))
				return
			}
			if v := view(p, states); status == "" || v.Status == status {
				absolute(r, v)
				out.Data = append(out.Data, v)
			}
			if len(out.Data) == limit {
				if i < len(page)-1 || next != "" {
					out.NextCursor = p.Cursor()
				}
				writeJSON(w, http.StatusOK, out)
				return
			}
		}
		if next == "" {
			writeJSON(w, http.StatusOK, out)
			return
		}
		cursor = next
	}
}

// timeParam reads an RFC 3339 time (or a date YYYY-MM-DD) as unix nanos.
func timeParam(s, name string, def int64) (int64, *apiError) {
	if s == "" {
		return def, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, invalid(name, "%s must be an RFC 3339 time (2025-11-22T12:00:00Z) or a date (2025-11-22), not %q", name, s)
}
