package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Card-not-present payments (node/payments). A payment records an API
// call before anything goes to the acquirer: its idempotency key, a
// fingerprint of the request, and the identity (virtual terminal + STAN +
// DE7) of each ISO 8583 transaction it makes through the pipeline: the
// authorization, then a capture, a void, refunds. Apply gives each its
// STAN from the log, so a retry of the call, on any node, sends the same
// identity and the pipeline's duplicate check does the rest. What each
// transaction came to is its own record (Txn): a payment's status is
// derived from them, never stored twice. No card data is kept here beyond
// the last four digits and the brand; the card is sealed in the Txn.

// Payment ops.
const (
	// OpPaymentCreate records a payment and the identity of its
	// authorization.
	OpPaymentCreate Op = 21
	// OpPaymentStep adds a capture, void or refund to a payment.
	OpPaymentStep Op = 22
)

// StepKind is what one of a payment's transactions does.
type StepKind uint8

// Step kinds. The numbers are stored.
const (
	StepAuth    StepKind = iota + 1 // 0100 (manual capture) or 0200 (automatic)
	StepCapture                     // 0220 completing the 0100
	StepVoid                        // 0400 reversing the uncaptured 0100
	StepRefund                      // 0200, DE3 20xxxx
)

func (k StepKind) String() string {
	switch k {
	case StepAuth:
		return "authorization"
	case StepCapture:
		return "capture"
	case StepVoid:
		return "void"
	case StepRefund:
		return "refund"
	}
	return fmt.Sprintf("step(%d)", k)
}

// PaymentStep is one transaction of a payment.
type PaymentStep struct {
	Kind    StepKind
	IdemKey string // the API call's Idempotency-Key ("" if none)
	Amount  int64
	DE7     string // MMDDhhmmss, stamped by the leader
	STAN    string // given by Apply
	TxnID   string // Terminal + STAN + DE7: the pipeline's identity
	At      int64
}

// Payment is a card-not-present payment.
type Payment struct {
	ID          string
	Merchant    string
	Terminal    string // the merchant's virtual terminal (DE41), given by Apply
	MID         string // DE42, given by Apply
	IdemKey     string
	Fingerprint []byte // keyed hash of the request (never of the CVC)
	Amount      int64
	Currency    string // ISO 4217 numeric
	Manual      bool   // capture "manual": a pre-auth (0100)
	OrderID     string
	Description string
	Brand       string
	Last4       string
	At          int64          // created, unix nanos stamped by the leader
	Steps       []*PaymentStep // [0] is the authorization
	// Link is the pay-by-link link this payment is an attempt to pay ("" for
	// a payment made through the API).
	Link string
	// Auth is the cardholder authentication (3-D Secure) before the
	// authorization (payment_auth.go).
	Auth PaymentAuth
}

// Step returns the first step of kind k, nil if there is none.
func (p *Payment) Step(k StepKind) *PaymentStep {
	for _, s := range p.Steps {
		if s.Kind == k {
			return s
		}
	}
	return nil
}

// PaymentCreateCmd encodes OpPaymentCreate: p with its authorization step
// (Kind, Amount, DE7, At). Apply sets Terminal, MID and the step's STAN.
func PaymentCreateCmd(p Payment) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpPaymentCreate)}}
	appendPayment(&w, &p)
	return w.b
}

// PaymentStepCmd encodes OpPaymentStep: s added to payment id.
func PaymentStepCmd(id string, s PaymentStep) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpPaymentStep)}}
	w.str(id)
	appendStep(&w, &s)
	return w.b
}

func appendPayment(w *writer, p *Payment) {
	for _, s := range []string{p.ID, p.Merchant, p.Terminal, p.MID, p.IdemKey} {
		w.str(s)
	}
	w.bytes(p.Fingerprint)
	w.int(p.Amount)
	w.str(p.Currency)
	w.bool(p.Manual)
	for _, s := range []string{p.OrderID, p.Description, p.Brand, p.Last4} {
		w.str(s)
	}
	w.int(p.At)
	w.int(int64(len(p.Steps)))
	for _, s := range p.Steps {
		appendStep(w, s)
	}
	// The pay-by-link and authentication fields came later: a record
	// without them ends here, and reads with them zero.
	if p.Link != "" || p.Auth != (PaymentAuth{}) {
		w.byte(paymentExtV1)
		w.str(p.Link)
		appendPaymentAuth(w, &p.Auth)
	}
}

// paymentExtV1 marks the trailing fields of a Payment (Link, Auth).
const paymentExtV1 = 1

func appendStep(w *writer, s *PaymentStep) {
	w.byte(byte(s.Kind))
	w.str(s.IdemKey)
	w.int(s.Amount)
	w.str(s.DE7)
	w.str(s.STAN)
	w.str(s.TxnID)
	w.int(s.At)
}

func readPayment(r *reader) *Payment {
	p := &Payment{ID: r.str(), Merchant: r.str(), Terminal: r.str(), MID: r.str(), IdemKey: r.str()}
	p.Fingerprint, p.Amount, p.Currency, p.Manual = r.bytes(), r.int(), r.str(), r.bool()
	p.OrderID, p.Description, p.Brand, p.Last4 = r.str(), r.str(), r.str(), r.str()
	p.At = r.int()
	for n := r.count(); n > 0; n-- {
		p.Steps = append(p.Steps, readStep(r))
	}
	if r.err == nil && len(r.b) > 0 {
		if v := r.byte(); v != paymentExtV1 {
			r.failf("payment extension %d", v)
			return p
		}
		p.Link = r.str()
		p.Auth = readPaymentAuth(r)
	}
	return p
}

func readStep(r *reader) *PaymentStep {
	return &PaymentStep{Kind: StepKind(r.byte()), IdemKey: r.str(), Amount: r.int(), DE7: r.str(), STAN: r.str(), TxnID: r.str(), At: r.int()}
}

type paymentStepCmd struct {
	ID   string
	Step *PaymentStep
}

func readPaymentStepCmd(r *reader) *paymentStepCmd {
	return &paymentStepCmd{ID: r.str(), Step: readStep(r)}
}

func validDE7(s string) bool {
	if len(s) != 10 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// paymentCreate records p, or returns the payment recorded under its id:
// a retry of the same call (the caller compares the fingerprints; a
// different one is refused here as ErrConflict, with the recorded payment).
func (a *applier) paymentCreate(p *Payment) (Result, error) {
	if len(p.ID) == 0 || len(p.ID) > maxKeyField || len(p.IdemKey) > 255 || len(p.OrderID) > 255 || len(p.Description) > 1024 ||
		p.Amount <= 0 || len(p.Steps) != 1 || p.Steps[0].Kind != StepAuth || !validDE7(p.Steps[0].DE7) {
		return Result{Err: fmt.Errorf("%w: payment %q", ErrInvalid, p.ID)}, nil
	}
	old, err := getPayment(a.tx, p.ID)
	if err != nil {
		return Result{}, err
	}
	if old != nil {
		if !bytes.Equal(old.Fingerprint, p.Fingerprint) {
			return Result{Payment: old, Existed: true, Err: fmt.Errorf("%w: payment %s was made with another request under the same idempotency key", ErrConflict, p.ID)}, nil
		}
		return Result{Payment: old, Existed: true}, nil
	}
	m, err := getMerchant(a.tx, p.Merchant)
	if err != nil {
		return Result{}, err
	}
	if m == nil {
		return Result{Err: fmt.Errorf("%w: payment %s: no merchant %q", ErrInvalid, p.ID, p.Merchant)}, nil
	}
	if !p.Auth.validAtCreate() {
		return Result{Err: fmt.Errorf("%w: payment %s: authentication %v at creation", ErrInvalid, p.ID, p.Auth.Status)}, nil
	}
	var link *Link
	if p.Link != "" {
		var refusal Result
		if link, refusal, err = a.linkAttempt(p); err != nil || refusal.Err != nil {
			return refusal, err
		}
	}
	p.Terminal, p.MID = m.Terminal, m.MID
	if err := a.identifyStep(p, p.Steps[0]); err != nil {
		return Result{}, err
	}
	if err := a.putPayment(p); err != nil {
		return Result{}, err
	}
	idx := append(joinKey(p.Merchant, ""), binary.BigEndian.AppendUint64(nil, uint64(p.At))...)
	if err := a.tx.Bucket(bucketPaymentIdx).Put(append(idx, p.ID...), []byte(p.ID)); err != nil {
		return Result{}, err
	}
	if link != nil {
		link.Attempts = append(link.Attempts, p.ID)
		if err := a.putLink(link); err != nil {
			return Result{}, err
		}
	}
	return Result{Payment: p}, nil
}

// identifyStep gives s the next STAN of the payment's virtual terminal,
// and so its identity.
func (a *applier) identifyStep(p *Payment, s *PaymentStep) error {
	n, err := a.next(bucketCNPSeq, []byte("stan|"+p.Terminal))
	if err != nil {
		return err
	}
	s.STAN = fmt.Sprintf("%06d", (n-1)%999999+1)
	s.TxnID = p.Terminal + s.STAN + s.DE7
	// The answer to the transaction finds its payment (webhook.go).
	return a.tx.Bucket(bucketPaymentTxn).Put([]byte(s.TxnID), []byte(p.ID))
}

// paymentStep adds a capture, void or refund to a payment, if its rules
// allow it. The same call again (same kind and amount, and for a refund the
// same idempotency key) returns the step recorded, Existed.
func (a *applier) paymentStep(c *paymentStepCmd) (Result, error) {
	s := c.Step
	if s.Kind < StepCapture || s.Kind > StepRefund || s.Amount <= 0 || !validDE7(s.DE7) || len(s.IdemKey) > 255 {
		return Result{Err: fmt.Errorf("%w: payment %s: step %v", ErrInvalid, c.ID, s.Kind)}, nil
	}
	p, err := getPayment(a.tx, c.ID)
	if err != nil || p == nil {
		if err == nil {
			return Result{Err: fmt.Errorf("%w: payment %s", ErrNotFound, c.ID)}, nil
		}
		return Result{}, err
	}
	if old := a.sameStep(p, s); old != nil {
		return Result{Payment: p, Step: old, Existed: true}, nil
	}
	refusal, err := a.stepRules(p, s)
	if err != nil || refusal != nil {
		return Result{Payment: p, Err: refusal}, err
	}
	if err := a.identifyStep(p, s); err != nil {
		return Result{}, err
	}
	p.Steps = append(p.Steps, s)
	return Result{Payment: p, Step: s}, a.putPayment(p)
}

// sameStep is the step s repeats: a capture or void already recorded with
// the same amount, a refund under the same idempotency key and amount.
func (a *applier) sameStep(p *Payment, s *PaymentStep) *PaymentStep {
	for _, old := range p.Steps {
		if old.Kind != s.Kind || old.Amount != s.Amount {
			continue
		}
		if s.Kind != StepRefund || (s.IdemKey != "" && old.IdemKey == s.IdemKey) {
			return old
		}
	}
	return nil
}

// stepRules says why s may not be added to p (ErrConflict, ErrState or
// ErrAmount), or nil.
func (a *applier) stepRules(p *Payment, s *PaymentStep) (refusal, err error) {
	auth, err := a.stepStatus(p.Steps[0])
	if err != nil {
		return nil, err
	}
	for _, old := range p.Steps {
		if s.Kind == StepRefund && old.Kind == StepRefund && s.IdemKey != "" && old.IdemKey == s.IdemKey {
			return fmt.Errorf("%w: refund under idempotency key %q was for %d", ErrConflict, s.IdemKey, old.Amount), nil
		}
	}
	capture, void := p.Step(StepCapture), p.Step(StepVoid)
	switch s.Kind {
	case StepCapture, StepVoid:
		switch {
		case !p.Manual:
			return fmt.Errorf("%w: payment %s was captured with its authorization", ErrState, p.ID), nil
		case capture != nil && s.Kind == StepCapture:
			return fmt.Errorf("%w: payment %s was captured already (%d)", ErrConflict, p.ID, capture.Amount), nil
		case capture != nil:
			return fmt.Errorf("%w: payment %s is captured: refund it instead", ErrState, p.ID), nil
		case void != nil:
			return fmt.Errorf("%w: payment %s is voided", ErrState, p.ID), nil
		case auth != StatusApproved:
			return fmt.Errorf("%w: payment %s is not authorized (%v)", ErrState, p.ID, auth), nil
		case s.Amount > p.Amount:
			return fmt.Errorf("%w: %d is more than the %d authorized", ErrAmount, s.Amount, p.Amount), nil
		}
		return nil, nil
	}
	captured, refunded, err := a.captured(p)
	if err != nil {
		return nil, err
	}
	switch {
	case captured == 0:
		return fmt.Errorf("%w: payment %s has nothing captured to refund", ErrState, p.ID), nil
	case refunded+s.Amount > captured:
		return fmt.Errorf("%w: %d more would refund over the %d captured (%d refunded)", ErrAmount, s.Amount, captured, refunded), nil
	}
	return nil, nil
}

// captured is what p captured (approved), and what its refunds take back
// or may take back (all but the declined ones).
func (a *applier) captured(p *Payment) (captured, refunded int64, err error) {
	for _, s := range p.Steps {
		st, err := a.stepStatus(s)
		if err != nil {
			return 0, 0, err
		}
		switch {
		case s.Kind == StepAuth && !p.Manual && st == StatusApproved, s.Kind == StepCapture && st == StatusApproved:
			captured += s.Amount
		case s.Kind == StepRefund && st != StatusDeclined:
			refunded += s.Amount
		}
	}
	return captured, refunded, nil
}

// stepStatus is the status of s's transaction; pending when it has none
// yet (its INTENT may still be appended by a retry).
func (a *applier) stepStatus(s *PaymentStep) (Status, error) {
	t, _, err := a.get(s.TxnID)
	if err != nil || t == nil {
		return StatusPending, err
	}
	return t.Status, nil
}

func (a *applier) putPayment(p *Payment) error {
	w := writer{}
	appendPayment(&w, p)
	return a.tx.Bucket(bucketPayments).Put([]byte(p.ID), w.b)
}

func getPayment(tx *bolt.Tx, id string) (*Payment, error) {
	v := tx.Bucket(bucketPayments).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	r := reader{b: v}
	p := readPayment(&r)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("payment %s: %w", id, err)
	}
	return p, nil
}

// Payment returns payment id (nil if there is none).
func (s *Store) Payment(id string) (*Payment, error) {
	var p *Payment
	err := s.view(func(tx *bolt.Tx) (err error) {
		p, err = getPayment(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: payment %s: %w", id, err)
	}
	return p, nil
}

// Payments lists up to limit payments of merchant created in [from, to)
// (unix nanos), oldest first, after the cursor a previous call returned
// ("" from the start). The cursor it returns is "" when nothing follows.
func (s *Store) Payments(merchant string, from, to int64, cursor string, limit int) ([]*Payment, string, error) {
	prefix := joinKey(merchant, "")
	start := append(bytes.Clone(prefix), binary.BigEndian.AppendUint64(nil, uint64(max(from, 0)))...)
	after, err := hex.DecodeString(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("store: payments cursor %q: %w", cursor, ErrInvalid)
	}
	var out []*Payment
	var next string
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPaymentIdx).Cursor()
		k, v := c.Seek(start)
		if len(after) > 0 {
			if k, v = c.Seek(append(bytes.Clone(prefix), after...)); k != nil && bytes.Equal(k[len(prefix):], after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(k) >= len(prefix)+8; k, v = c.Next() {
			if at := int64(binary.BigEndian.Uint64(k[len(prefix):])); at < from || at >= to {
				if at >= to {
					break
				}
				continue
			}
			if len(out) == limit {
				next = out[len(out)-1].Cursor()
				break
			}
			p, err := getPayment(tx, string(v))
			if err != nil || p == nil {
				return fmt.Errorf("%w: payment index names %q: %v", ErrCorrupt, v, err)
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: payments of %s: %w", merchant, err)
	}
	return out, next, nil
}

// Cursor is the Payments cursor that continues a list after p.
func (p *Payment) Cursor() string {
	return hex.EncodeToString(append(binary.BigEndian.AppendUint64(nil, uint64(p.At)), p.ID...))
}
