package store

import (
	"bytes"
	"errors"
	"testing"
)

// cnpIntent is the INTENT the pipeline commits for step s of p.
func cnpIntent(tb testing.TB, v *Vault, p *Payment, s *PaymentStep, typ TxnType) *Txn {
	t := newTxn(tb, v, 1, typ, s.Amount)
	t.ID, t.TerminalID, t.STAN, t.TransmissionTime, t.MerchantID = s.TxnID, p.Terminal, s.STAN, s.DE7, p.MID
	t.RRN = ""
	return t
}

func TestPaymentRules(t *testing.T) {
	s := mustOpen(t, true)
	v := mustVault(t)
	l := newLog(t, s)
	m := l.apply(MerchantAddCmd(Merchant{ID: "shop", Name: "Shop", Keys: []APIKey{{Name: "k", Hash: bytes.Repeat([]byte{1}, 32)}}, At: testEpoch}))
	if m.Err != nil || m.Merchant.Terminal != "W0000001" || m.Merchant.MID != "CNP000000000001" {
		t.Fatalf("merchant: %+v %v", m.Merchant, m.Err)
	}
	if r := l.apply(MerchantAddCmd(Merchant{ID: "shop", Keys: []APIKey{{Hash: bytes.Repeat([]byte{2}, 32)}}})); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("second merchant shop: %v", r.Err)
	}
	pay := Payment{ID: "pay_1", Merchant: "shop", IdemKey: "k1", Fingerprint: []byte{1}, Amount: 1000, Currency: "978", Manual: true, At: testEpoch,
		Steps: []*PaymentStep{{Kind: StepAuth, Amount: 1000, DE7: testDE7, At: testEpoch}}}
	r := l.apply(PaymentCreateCmd(pay))
	if r.Err != nil || r.Payment.Steps[0].TxnID != "W0000001000001"+testDE7 {
		t.Fatalf("create: %+v %v", r.Payment, r.Err)
	}
	p := r.Payment
	if r := l.apply(PaymentCreateCmd(pay)); r.Err != nil || !r.Existed || r.Payment.Steps[0].TxnID != p.Steps[0].TxnID {
		t.Fatalf("retry: %+v %v", r, r.Err)
	}
	other := pay
	other.Fingerprint = []byte{2}
	if r := l.apply(PaymentCreateCmd(other)); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("other body, same key: %v", r.Err)
	}
	step := func(k StepKind, amount int64, key string) Result {
		return l.apply(PaymentStepCmd("pay_1", PaymentStep{Kind: k, Amount: amount, IdemKey: key, DE7: testDE7, At: testEpoch}))
	}
	if r := step(StepCapture, 500, ""); !errors.Is(r.Err, ErrState) {
		t.Fatalf("capture before the authorization is approved: %v", r.Err)
	}
	l.txn(cnpIntent(t, v, p, p.Steps[0], TypePreAuth), StatusApproved)
	if r := step(StepCapture, 1001, ""); !errors.Is(r.Err, ErrAmount) {
		t.Fatalf("capture over the authorization: %v", r.Err)
	}
	if r := step(StepRefund, 1, "r0"); !errors.Is(r.Err, ErrState) {
		t.Fatalf("refund before a capture: %v", r.Err)
	}
	c := step(StepCapture, 600, "")
	if c.Err != nil || c.Step.TxnID != "W0000001000002"+testDE7 {
		t.Fatalf("capture: %+v %v", c.Step, c.Err)
	}
	if r := step(StepCapture, 600, ""); r.Err != nil || !r.Existed || r.Step.TxnID != c.Step.TxnID {
		t.Fatalf("capture again: %+v %v", r.Step, r.Err)
	}
	if r := step(StepCapture, 500, ""); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("second capture: %v", r.Err)
	}
	if r := step(StepVoid, 1000, ""); !errors.Is(r.Err, ErrState) {
		t.Fatalf("void after a capture: %v", r.Err)
	}
	done := l.apply(PaymentStepCmd("pay_1", PaymentStep{})).Payment // refused: the payment as stored
	if done != nil {
		t.Fatalf("an invalid step returned a payment")
	}
	pp, _ := s.Payment("pay_1")
	l.txn(cnpIntent(t, v, pp, pp.Steps[1], TypeCompletion), StatusApproved)
	r1 := step(StepRefund, 400, "r1")
	if r1.Err != nil {
		t.Fatal(r1.Err)
	}
	if r := step(StepRefund, 300, "r1"); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("refund key reused for another amount: %v", r.Err)
	}
	if r := step(StepRefund, 201, "r2"); !errors.Is(r.Err, ErrAmount) {
		t.Fatalf("refunds over the captured 600: %v", r.Err)
	}
	if r := step(StepRefund, 200, "r2"); r.Err != nil {
		t.Fatal(r.Err)
	}
	list, next, err := s.Payments("shop", 0, testEpoch+1, "", 10)
	if err != nil || len(list) != 1 || next != "" || len(list[0].Steps) != 4 {
		t.Fatalf("list: %d %q %v", len(list), next, err)
	}
	if got, _ := s.Payment("pay_1"); !bytes.Equal(roundTrip(t, PaymentCreateCmd(*got)), PaymentCreateCmd(*got)) {
		t.Fatal("payment command does not round trip")
	}
}

func roundTrip(tb testing.TB, b []byte) []byte {
	c, err := DecodeCommand(b)
	if err != nil {
		tb.Fatal(err)
	}
	return Encode(c)
}
