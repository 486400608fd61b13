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
// here: it stays in the active's memory (node/payments). What a passed
// challenge proves is: the ACS's authentication value and ECI, which the
// authorization carries to the acquirer (DE48 AV, EC) and its retries
// after a failover carry again; the payment's views never show the value.

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
	// Value and ECI are the proof of a passed challenge the ACS issued
	// (3-D Secure's CAVV and ECI), for the authorization and its retries;
	// the authorization's final answer erases Value (paymentAnswered).
	Value, ECI string
}

// Ready reports whether the payment may go to the acquirer.
func (a PaymentAuth) Ready() bool {
	return a.Status == AuthNone || a.Status == AuthNotRequired || a.Status == AuthAuthenticated
}

func (a PaymentAuth) validAtCreate() bool {
	if a.Value != "" || a.ECI != "" {
		return false
	}
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
	// The proof came later: written last (the Payment's and the command's
	// last fields), absent from older records.
	if a.Value != "" || a.ECI != "" {
		w.str(a.Value)
		w.str(a.ECI)
	}
}

func readPaymentAuth(r *reader) PaymentAuth {
	a := PaymentAuth{Status: AuthStatus(r.byte()), ACSID: r.str(), Token: r.str(), Reason: r.str(), At: r.int()}
	if r.err == nil && len(r.b) > 0 {
		a.Value, a.ECI = r.str(), r.str()
	}
	return a
}

type paymentAuthCmd struct {
	ID         string
	Status     AuthStatus
	Reason     string
	At         int64
	Value, ECI string
}

// PaymentAuthCmd encodes OpPaymentAuth: the challenge of payment id came
// to status (AuthAuthenticated with the ACS's value and ECI, or
// AuthFailed with the reason).
func PaymentAuthCmd(id string, status AuthStatus, reason, value, eci string, at time.Time) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpPaymentAuth)}}
	appendPaymentAuthCmd(&w, &paymentAuthCmd{ID: id, Status: status, Reason: reason, At: at.UnixNano(), Value: value, ECI: eci})
	return w.b
}

func appendPaymentAuthCmd(w *writer, c *paymentAuthCmd) {
	w.str(c.ID)
	w.byte(byte(c.Status))
	w.str(c.Reason)
	w.int(c.At)
	if c.Value != "" || c.ECI != "" {
		w.str(c.Value)
		w.str(c.ECI)
	}
}

func readPaymentAuthCmd(r *reader) *paymentAuthCmd {
	c := &paymentAuthCmd{ID: r.str(), Status: AuthStatus(r.byte()), Reason: r.str(), At: r.int()}
	if r.err == nil && len(r.b) > 0 {
		c.Value, c.ECI = r.str(), r.str()
	}
	return c
}

// paymentAuth records a challenge's result. Recording the same result
// again is a repeat (Existed); another result once one is recorded, or a
// result for a payment that had no challenge, is refused (ErrState).
func (a *applier) paymentAuth(c *paymentAuthCmd) (Result, error) {
	if (c.Status != AuthAuthenticated && c.Status != AuthFailed) || len(c.Reason) > 255 || len(c.Value) > 255 || len(c.ECI) > 2 ||
		(c.Status == AuthFailed && c.Value != "") {
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
	p.Auth.Status, p.Auth.Reason, p.Auth.At, p.Auth.Value, p.Auth.ECI = c.Status, c.Reason, c.At, c.Value, c.ECI
	return Result{Payment: p}, a.putPayment(p)
}
