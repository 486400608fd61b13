package store

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestWebhookQueue: each final answer of a payment's transaction enqueues
// one event for a merchant with a webhook, in the apply that records it;
// an unknown outcome enqueues nothing until it is final; an ack removes
// the event; removing the webhook drops the queue.
func TestWebhookQueue(t *testing.T) {
	s := mustOpen(t, true)
	v := mustVault(t)
	l := newLog(t, s)
	l.apply(MerchantAddCmd(Merchant{ID: "shop", Name: "Shop", Keys: []APIKey{{Name: "k", Hash: bytes.Repeat([]byte{1}, 32)}}, At: testEpoch}))
	l.apply(MerchantAddCmd(Merchant{ID: "quiet", Name: "Quiet", Keys: []APIKey{{Name: "k", Hash: bytes.Repeat([]byte{2}, 32)}}, At: testEpoch}))
	for _, bad := range []Webhook{
		{Merchant: "nobody", URL: "http://x/h", Secret: "0123456789abcdef"},
		{Merchant: "shop", URL: "ftp://x/h", Secret: "0123456789abcdef"},
		{Merchant: "shop", URL: "http://x/h", Secret: "short"},
	} {
		if r := l.apply(MerchantWebhookCmd(bad)); r.Err == nil {
			t.Fatalf("webhook %+v accepted", bad)
		}
	}
	if r := l.apply(MerchantWebhookCmd(Webhook{Merchant: "shop", URL: "https://shop.example/hook", Secret: "0123456789abcdef", At: testEpoch})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if h, err := s.MerchantWebhook("shop"); err != nil || h.URL != "https://shop.example/hook" || h.Secret != "0123456789abcdef" {
		t.Fatalf("webhook: %+v %v", h, err)
	}
	pay := func(id, merchant string, manual bool) *Payment {
		r := l.apply(PaymentCreateCmd(Payment{ID: id, Merchant: merchant, IdemKey: id, Fingerprint: []byte{1}, Amount: 1000, Currency: "978", Manual: manual,
			OrderID: "o-" + id, At: testEpoch, Steps: []*PaymentStep{{Kind: StepAuth, Amount: 1000, DE7: testDE7, At: testEpoch}}}))
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return r.Payment
	}
	p := pay("pay_1", "shop", true)
	auth := cnpIntent(t, v, p, p.Steps[0], TypePreAuth)
	l.ok(IntentCmd(auth))
	if _, n, _ := s.WebhookHeads(); n != 0 {
		t.Fatalf("an INTENT enqueued %d events", n)
	}
	l.ok(OutcomeCmd(Outcome{ID: auth.ID, Status: StatusUnknown, At: auth.CreatedAt + 1}))
	if _, n, _ := s.WebhookHeads(); n != 0 {
		t.Fatalf("an unknown outcome enqueued %d events", n)
	}
	l.ok(OutcomeCmd(Outcome{ID: auth.ID, Status: StatusApproved, RC: "00", AuthCode: "A1", At: auth.CreatedAt + 2}))
	l.ok(OutcomeCmd(Outcome{ID: auth.ID, Status: StatusApproved, RC: "00", AuthCode: "A1", At: auth.CreatedAt + 3})) // repeated
	c := l.apply(PaymentStepCmd("pay_1", PaymentStep{Kind: StepCapture, Amount: 600, DE7: testDE7, At: testEpoch}))
	l.txn(cnpIntent(t, v, c.Payment, c.Step, TypeCompletion), StatusApproved)
	rf := l.apply(PaymentStepCmd("pay_1", PaymentStep{Kind: StepRefund, Amount: 100, IdemKey: "r", DE7: testDE7, At: testEpoch}))
	l.txn(cnpIntent(t, v, rf.Payment, rf.Step, TypeRefund), StatusDeclined)
	// The other merchant has no webhook: nothing is queued for it.
	q := pay("pay_2", "quiet", false)
	l.txn(cnpIntent(t, v, q, q.Steps[0], TypePurchase), StatusApproved)

	evs, err := s.WebhookEvents("shop", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.ID()+" "+e.Type)
	}
	want := []string{"evt_shop_1 payment.authorized", "evt_shop_2 payment.captured", "evt_shop_3 payment.refund_failed"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("events %q, want %q", got, want)
	}
	if e := evs[0]; e.Payment != "pay_1" || e.OrderID != "o-pay_1" || e.Amount != 1000 || e.AuthCode != "A1" || e.TxnID != auth.ID || e.At != auth.CreatedAt+2 {
		t.Fatalf("first event %+v", e)
	}
	if e := evs[1]; e.Amount != 600 || e.Step != StepCapture {
		t.Fatalf("capture event %+v", e)
	}
	heads, n, err := s.WebhookHeads()
	if err != nil || n != 3 || len(heads) != 1 || heads[0].Seq != 1 {
		t.Fatalf("heads %+v, depth %d, %v", heads, n, err)
	}
	l.apply(WebhookAckCmd(WebhookAck{Merchant: "shop", Seq: 1}))
	l.apply(WebhookAckCmd(WebhookAck{Merchant: "shop", Seq: 1})) // again: nothing
	if heads, n, _ := s.WebhookHeads(); n != 2 || heads[0].Seq != 2 {
		t.Fatalf("after the ack: %+v, depth %d", heads, n)
	}
	if r := l.apply(WebhookAckCmd(WebhookAck{Merchant: "bad|id", Seq: 1})); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("ack for a bad merchant id: %v", r.Err)
	}
	l.apply(MerchantWebhookCmd(Webhook{Merchant: "shop"}))
	if h, _ := s.MerchantWebhook("shop"); h != nil {
		t.Fatalf("webhook removed, still %+v", h)
	}
	if _, n, _ := s.WebhookHeads(); n != 0 {
		t.Fatalf("webhook removed, %d events left", n)
	}
}

func TestWebhookHeadsOfSeveralMerchants(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	for i, id := range []string{"a", "ab", "b"} {
		l.apply(MerchantAddCmd(Merchant{ID: id, Keys: []APIKey{{Name: "k", Hash: bytes.Repeat([]byte{byte(i + 1)}, 32)}}}))
	}
	// Events written directly: the queue's order, not how they got there.
	err := s.db.Update(func(tx *bolt.Tx) error {
		a := &applier{tx: tx}
		for _, m := range []string{"a", "ab", "b", "a", "b", "a"} {
			n, _ := a.next(bucketCNPSeq, []byte("event|"+m))
			if err := tx.Bucket(bucketWebhookQ).Put(webhookKey(m, n), appendWebhookEvent(&WebhookEvent{Merchant: m, Seq: n})); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	heads, n, err := s.WebhookHeads()
	if err != nil || n != 6 || len(heads) != 3 {
		t.Fatalf("heads %+v depth %d %v", heads, n, err)
	}
	for _, h := range heads {
		if h.Seq != 1 {
			t.Fatalf("head of %s is %d", h.Merchant, h.Seq)
		}
	}
}
