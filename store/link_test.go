package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestLinkAttempts: a link takes one attempt at a time, none once paid
// or expired; a failed challenge ends an attempt; the challenge's result
// is recorded once.
func TestLinkAttempts(t *testing.T) {
	s := mustOpen(t, true)
	v := mustVault(t)
	l := newLog(t, s)
	if r := l.apply(MerchantAddCmd(Merchant{ID: "shop", Name: "Shop", Keys: []APIKey{{Name: "k", Hash: bytes.Repeat([]byte{1}, 32)}}, At: testEpoch})); r.Err != nil {
		t.Fatal(r.Err)
	}
	link := Link{ID: "link_1", Merchant: "shop", Token: "tok-0123456789abcdef", Amount: 2450, Currency: "978", Description: "invoice",
		CustomerName: "Robin", CustomerEmail: "robin@example.com", ExpiresAt: testEpoch + int64(time.Hour), At: testEpoch}
	if r := l.apply(LinkCreateCmd(link)); r.Err != nil || r.Existed || r.Link.ID != "link_1" {
		t.Fatalf("create link: %+v %v", r.Link, r.Err)
	}
	again := link
	again.Token = "another-token-0123456"
	if r := l.apply(LinkCreateCmd(again)); r.Err != nil || !r.Existed || r.Link.Token != link.Token {
		t.Fatalf("the same link again keeps its first token: %+v %v", r.Link, r.Err)
	}
	if got, err := s.LinkByToken(link.Token); err != nil || got == nil || got.ID != "link_1" {
		t.Fatalf("by token: %+v %v", got, err)
	}
	attempt := func(id string, at int64, auth PaymentAuth) Result {
		return l.apply(PaymentCreateCmd(Payment{ID: id, Merchant: "shop", IdemKey: id, Fingerprint: []byte{1}, Amount: 2450, Currency: "978", At: at,
			Link: "link_1", Auth: auth, Steps: []*PaymentStep{{Kind: StepAuth, Amount: 2450, DE7: testDE7, At: at}}}))
	}
	pending := PaymentAuth{Status: AuthPending, ACSID: "acs-1", Token: "challenge-token-0123", At: testEpoch}
	r := attempt("pay_1", testEpoch, pending)
	if r.Err != nil || r.Payment.Link != "link_1" || r.Payment.Auth != pending {
		t.Fatalf("first attempt: %+v %v", r.Payment, r.Err)
	}
	if r := attempt("pay_2", testEpoch+1, PaymentAuth{}); !errors.Is(r.Err, ErrConflict) || r.Payment.ID != "pay_1" {
		t.Fatalf("a second attempt while the first waits for its challenge: %+v", r)
	}
	if r := l.apply(PaymentAuthCmd("pay_1", AuthPending, "", "", "", time.Unix(0, testEpoch))); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("pending as a result: %v", r.Err)
	}
	if r := l.apply(PaymentAuthCmd("pay_1", AuthFailed, "too many wrong codes", "", "", time.Unix(0, testEpoch+2))); r.Err != nil || r.Payment.Auth.Status != AuthFailed {
		t.Fatalf("failed: %+v %v", r.Payment, r.Err)
	}
	if r := l.apply(PaymentAuthCmd("pay_1", AuthFailed, "too many wrong codes", "", "", time.Unix(0, testEpoch+3))); r.Err != nil || !r.Existed {
		t.Fatalf("the same result again: %+v", r)
	}
	if r := l.apply(PaymentAuthCmd("pay_1", AuthAuthenticated, "", "", "", time.Unix(0, testEpoch+3))); !errors.Is(r.Err, ErrState) {
		t.Fatalf("another result: %v", r.Err)
	}
	// The failed attempt is over: a new one may go, and once approved the
	// link is paid.
	r = attempt("pay_2", testEpoch+4, PaymentAuth{Status: AuthNotRequired, ACSID: "acs-2", At: testEpoch})
	if r.Err != nil {
		t.Fatalf("attempt after a failed challenge: %v", r.Err)
	}
	p := r.Payment
	l.txn(cnpIntent(t, v, p, p.Steps[0], TypePurchase), StatusApproved)
	if r := attempt("pay_3", testEpoch+5, PaymentAuth{}); !errors.Is(r.Err, ErrState) || r.Payment.ID != "pay_2" {
		t.Fatalf("an attempt on a paid link: %+v", r)
	}
	got, err := s.Link("link_1")
	if err != nil || !reflect.DeepEqual(got.Attempts, []string{"pay_1", "pay_2"}) {
		t.Fatalf("attempts: %+v %v", got, err)
	}
	// An attempt stuck without an outcome keeps others out for the
	// window only; an expired link takes none.
	link2 := link
	link2.ID, link2.Token, link2.ExpiresAt = "link_2", "tok2-0123456789abcdef", testEpoch+int64(time.Hour)
	l.apply(LinkCreateCmd(link2))
	at2 := func(id string, at int64) Result {
		return l.apply(PaymentCreateCmd(Payment{ID: id, Merchant: "shop", IdemKey: id, Fingerprint: []byte{1}, Amount: 2450, Currency: "978", At: at,
			Link: "link_2", Steps: []*PaymentStep{{Kind: StepAuth, Amount: 2450, DE7: testDE7, At: at}}}))
	}
	if r := at2("pay_4", testEpoch); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := at2("pay_5", testEpoch+int64(LinkAttemptWindow)-1); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("within the window: %v", r.Err)
	}
	if r := at2("pay_5", testEpoch+int64(LinkAttemptWindow)); r.Err != nil {
		t.Fatalf("after the window: %v", r.Err)
	}
	if r := at2("pay_6", testEpoch+int64(time.Hour)); !errors.Is(r.Err, ErrState) {
		t.Fatalf("expired: %v", r.Err)
	}
	if links, next, err := s.Links("shop", "", 1); err != nil || len(links) != 1 || links[0].ID != "link_1" || next == "" {
		t.Fatalf("links page 1: %v %q %v", links, next, err)
	} else if links, next, err = s.Links("shop", next, 1); err != nil || len(links) != 1 || links[0].ID != "link_2" || next != "" {
		t.Fatalf("links page 2: %v %q %v", links, next, err)
	}

	// An attempt whose authorization's INTENT is recorded keeps others
	// out past the window, until its outcome is final: it may yet be
	// approved (a takeover resolves it), and a second attempt would pay
	// the link twice.
	link3 := link
	link3.ID, link3.Token = "link_3", "tok3-0123456789abcdef"
	l.apply(LinkCreateCmd(link3))
	at3 := func(id string, at int64) Result {
		return l.apply(PaymentCreateCmd(Payment{ID: id, Merchant: "shop", IdemKey: id, Fingerprint: []byte{1}, Amount: 2450, Currency: "978", At: at,
			Link: "link_3", Steps: []*PaymentStep{{Kind: StepAuth, Amount: 2450, DE7: testDE7, At: at}}}))
	}
	r = at3("pay_7", testEpoch)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	intent := cnpIntent(t, v, r.Payment, r.Payment.Steps[0], TypePurchase)
	l.ok(IntentCmd(intent))
	if r := at3("pay_8", testEpoch+int64(LinkAttemptWindow)+1); !errors.Is(r.Err, ErrConflict) || r.Payment.ID != "pay_7" {
		t.Fatalf("an attempt past the window while the first one's INTENT is open: %+v", r)
	}
	l.ok(OutcomeCmd(Outcome{ID: intent.ID, Status: StatusDeclined, RC: "05", At: testEpoch + 2}))
	if r := at3("pay_8", testEpoch+int64(LinkAttemptWindow)+2); r.Err != nil {
		t.Fatalf("an attempt once the first was declined: %v", r.Err)
	}
}

func TestOutbox(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	msgs := []Message{
		{ID: "m1", Merchant: "shop", Kind: "receipt", To: "a@example.com", Subject: "s", Body: "b", Payment: "pay_1", At: testEpoch},
		{ID: "m2", Merchant: "shop", Kind: "receipt_copy", Subject: "s", Body: "b", Payment: "pay_1", At: testEpoch},
	}
	if r := l.apply(OutboxAddCmd(msgs...)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := l.apply(OutboxAddCmd(msgs...)); r.Err != nil {
		t.Fatal(r.Err)
	}
	l.apply(OutboxAddCmd(Message{ID: "m3", Merchant: "other", Kind: "receipt", Body: "x", At: testEpoch}))
	got, err := s.Outbox("shop", 0, 10)
	if err != nil || len(got) != 2 || got[0].ID != "m1" || got[1].ID != "m2" || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("outbox: %+v %v", got, err)
	}
	if got, _ := s.Outbox("shop", 1, 10); len(got) != 1 || got[0].ID != "m2" {
		t.Fatalf("after 1: %+v", got)
	}
	if ok, _ := s.OutboxHas("m3"); !ok {
		t.Fatal("m3 not found")
	}
}

// TestCNPCommandsRoundTrip: the new commands decode to what encodes them
// again, and a payment record of before Link and Auth still reads.
func TestCNPCommandsRoundTrip(t *testing.T) {
	for _, b := range [][]byte{
		PaymentAuthCmd("pay_1", AuthFailed, "too many wrong codes", "", "", time.Unix(0, testEpoch)),
		LinkCreateCmd(Link{ID: "l", Merchant: "m", Token: "t", Amount: 1, Currency: "978", ExpiresAt: 2, At: 1}),
		OutboxAddCmd(Message{ID: "m1", Kind: "receipt", Body: "b"}, Message{ID: "m2"}),
		PaymentCreateCmd(Payment{ID: "p", Link: "l", Auth: PaymentAuth{Status: AuthPending, ACSID: "a", Token: "t"}, Steps: []*PaymentStep{{Kind: StepAuth}}}),
	} {
		c, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("decode op %d: %v", b[1], err)
		}
		if again := Encode(c); !bytes.Equal(again, b) {
			t.Fatalf("op %d: encodes again as %x, want %x", b[1], again, b)
		}
	}
	old := Payment{ID: "p", Amount: 5, Steps: []*PaymentStep{{Kind: StepAuth}}}
	w := writer{}
	appendPayment(&w, &old)
	r := reader{b: w.b}
	if got := readPayment(&r); r.done() != nil || got.Link != "" || got.Auth != (PaymentAuth{}) || got.Amount != 5 {
		t.Fatalf("a payment without the extension: %+v %v", got, r.done())
	}
}
