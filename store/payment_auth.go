package store

import (
	"fmt"
	"time"
)

// Cardholder authentication (the role of 3-D Secure). Before a
// card-not-present payment is authorized, the node asks the issuer's
// access control server (ACS) whether the cardholder must prove who they
// are. The answer is recorded with the payment when it is created: not
// required (frictionless), or pending a challenge, whose ACS transaction
// and the unguessable token of the challenge page are kept here. The
// challenge's result (authenticated or failed) is recorded by
// OpPaymentAuth before anything goes to the acquirer. The card data the
// authorization needs after a challenge (the CVC above all) is never
// here: it stays in the active's memory (node/payments).

// OpPaymentAuth records the result of a payment's challenge.
const OpPaymentAuth Op = 23

// AuthStatus is where a payment's cardholder authentication stands. The
// numbers are stored.
type AuthStatus uint8

// Authentication statuses.
const (
	AuthNone          AuthStatus = iota // no ACS was asked (none configured)
	AuthNotRequired                     // the ACS let it through frictionless
	AuthPending                         // a challenge is waiting for the cardholder
	AuthAuthenticated                   // the challenge passed
	AuthFailed                          // the challenge failed: the payment is declined
)

func (s AuthStatus) String() string {
	switch s {
	case AuthNone:
		return "none"
	case AuthNotRequired:
		return "not_required"
	case AuthPending:
		return "pending"
	case AuthAuthenticated:
		return "authenticated"
	case AuthFailed:
		return "failed"
	}
	return fmt.Sprintf("auth(%d)", s)
}

// PaymentAuth is a payment's cardholder authentication.
type PaymentAuth struct {
	Status AuthStatus
	ACSID  string // the ACS's transaction
	// Token is the challenge page's unguessable part of its URL.
	Token string
	// Reason says why a challenge failed (the ACS's words).
	Reason string
	At     int64 // the last change, unix nanos stamped by the leader
}

// Ready reports whether the payment may go to the acquirer.
func (a PaymentAuth) Ready() bool {
	return a.Status == AuthNone || a.Status == AuthNotRequired || a.Status == AuthAuthenticated
}

func (a PaymentAuth) validAtCreate() bool {
	switch a.Status {
	case AuthNone, AuthNotRequired:
		return true
	case AuthPending:
		return a.ACSID != "" && len(a.ACSID) <= maxKeyField && len(a.Token) >= 16 && len(a.Token) <= maxKeyField
	}
	return false
}

func appendPaymentAuth(w *writer, a *PaymentAuth) {
	w.byte(byte(a.Status))
	w.str(a.ACSID)
	w.str(a.Token)
	w.str(a.Reason)
	w.int(a.At)
}

func readPaymentAuth(r *reader) PaymentAuth {
	return PaymentAuth{Status: AuthStatus(r.byte()), ACSID: r.str(), Token: r.str(), Reason: r.str(), At: r.int()}
}

type paymentAuthCmd struct {
	ID     string
	Status AuthStatus
	Reason string
	At     int64
}

// PaymentAuthCmd encodes OpPaymentAuth: the challenge of payment id came
// to status (AuthAuthenticated or AuthFailed, with the reason).
func PaymentAuthCmd(id string, status AuthStatus, reason string, at time.Time) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpPaymentAuth)}}
	appendPaymentAuthCmd(&w, &paymentAuthCmd{ID: id, Status: status, Reason: reason, At: at.UnixNano()})
	return w.b
}

func appendPaymentAuthCmd(w *writer, c *paymentAuthCmd) {
	w.str(c.ID)
	w.byte(byte(c.Status))
	w.str(c.Reason)
	w.int(c.At)
}

func readPaymentAuthCmd(r *reader) *paymentAuthCmd {
	return &paymentAuthCmd{ID: r.str(), Status: AuthStatus(r.byte()), Reason: r.str(), At: r.int()}
}

// paymentAuth records a challenge's result. Recording the same result
// again is a repeat (Existed); another result once one is recorded, or a
// result for a payment that had no challenge, is refused (ErrState).
func (a *applier) paymentAuth(c *paymentAuthCmd) (Result, error) {
	if (c.Status != AuthAuthenticated && c.Status != AuthFailed) || len(c.Reason) > 255 {
		return Result{Err: fmt.Errorf("%w: payment %s: authentication result %v", ErrInvalid, c.ID, c.Status)}, nil
	}
	p, err := getPayment(a.tx, c.ID)
	switch {
	case err != nil:
		return Result{}, err
	case p == nil:
		return Result{Err: fmt.Errorf("%w: payment %s", ErrNotFound, c.ID)}, nil
	case p.Auth.Status == c.Status:
		return Result{Payment: p, Existed: true}, nil
	case p.Auth.Status != AuthPending:
		return Result{Payment: p, Err: fmt.Errorf("%w: payment %s: authentication is %v", ErrState, p.ID, p.Auth.Status)}, nil
	}
	p.Auth.Status, p.Auth.Reason, p.Auth.At = c.Status, c.Reason, c.At
	return Result{Payment: p}, a.putPayment(p)
}
