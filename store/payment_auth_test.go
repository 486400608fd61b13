package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestPaymentAuthProof: a passed challenge records the ACS's value and
// ECI with the payment (read back from the state, as a new active would
// for a retried authorization) until the authorization's final answer
// erases the value; a failed one may carry none, and a payment may not be
// created with one.
func TestPaymentAuthProof(t *testing.T) {
	s := mustOpen(t, true)
	v := mustVault(t)
	l := newLog(t, s)
	if r := l.apply(MerchantAddCmd(Merchant{ID: "shop", Name: "Shop", Keys: []APIKey{{Name: "k", Hash: bytes.Repeat([]byte{1}, 32)}}, At: testEpoch})); r.Err != nil {
		t.Fatal(r.Err)
	}
	create := func(id string, auth PaymentAuth) Result {
		return l.apply(PaymentCreateCmd(Payment{ID: id, Merchant: "shop", IdemKey: id, Fingerprint: []byte{1}, Amount: 2450, Currency: "978", At: testEpoch,
			Auth: auth, Steps: []*PaymentStep{{Kind: StepAuth, Amount: 2450, DE7: testDE7, At: testEpoch}}}))
	}
	pending := PaymentAuth{Status: AuthPending, ACSID: "acs-1", Token: "challenge-token-0123", At: testEpoch}
	withValue := pending
	withValue.Value = "forged"
	if r := create("pay_0", withValue); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("created with a value: %v", r.Err)
	}
	for _, id := range []string{"pay_1", "pay_2"} {
		if r := create(id, pending); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	const cavv = "AAECAwQFBgcICQoLDA0ODxAREhM="
	if r := l.apply(PaymentAuthCmd("pay_1", AuthFailed, "too many wrong codes", cavv, "05", time.Unix(0, testEpoch+1))); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("a failed challenge with a value: %v", r.Err)
	}
	if r := l.apply(PaymentAuthCmd("pay_1", AuthAuthenticated, "", cavv, "05", time.Unix(0, testEpoch+1))); r.Err != nil {
		t.Fatal(r.Err)
	}
	p, err := s.Payment("pay_1")
	if err != nil || p.Auth.Status != AuthAuthenticated || p.Auth.Value != cavv || p.Auth.ECI != "05" || p.Auth.Token != pending.Token {
		t.Fatalf("read back: %+v %v", p, err)
	}
	// The acquirer answered: the value is no longer needed, the ECI stays.
	l.txn(cnpIntent(t, v, p, p.Steps[0], TypePreAuth), StatusApproved)
	if p, err := s.Payment("pay_1"); err != nil || p.Auth.Value != "" || p.Auth.ECI != "05" || p.Auth.Status != AuthAuthenticated {
		t.Fatalf("after the authorization's answer: %+v %v", p.Auth, err)
	}
	// Without a value (an ACS that issues none) the record reads as before.
	if r := l.apply(PaymentAuthCmd("pay_2", AuthAuthenticated, "", "", "", time.Unix(0, testEpoch+1))); r.Err != nil {
		t.Fatal(r.Err)
	}
	if p, err := s.Payment("pay_2"); err != nil || p.Auth.Status != AuthAuthenticated || p.Auth.Value != "" {
		t.Fatalf("read back without a value: %+v %v", p, err)
	}
}
