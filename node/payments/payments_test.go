package payments

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

const testKey = "key-of-shop"

// applyLog applies commands to a real store in log order, as Raft would
// on the leader.
type applyLog struct {
	mu  sync.Mutex
	s   *store.Store
	idx uint64
}

func (l *applyLog) Apply(_ context.Context, cmd []byte) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.idx++
	return l.s.ApplyBatch([]uint64{l.idx}, [][]byte{cmd})[0], nil
}

// approver is the pipeline: it commits an approved INTENT and OUTCOME per
// request it has not seen, and keeps every request.
type approver struct {
	log   *applyLog
	vault *store.Vault
	mu    sync.Mutex
	seen  []*wire.Message
}

func (a *approver) Handle(ctx context.Context, req *wire.Message) *wire.Message {
	a.mu.Lock()
	a.seen = append(a.seen, req)
	a.mu.Unlock()
	enc, bin, last4, hash, _ := a.vault.Seal(req.PAN, req.Key())
	t := &store.Txn{ID: req.Key(), Type: store.TypeOf(req.Kind()), MTI: wire.OriginalMTI(req.MTI), ProcCode: req.ProcCode, Amount: req.Amount,
		Currency: req.Currency, TerminalID: req.TerminalID, MerchantID: req.MerchantID, STAN: req.STAN, TransmissionTime: req.TransmissionTime,
		PANEnc: enc, BIN: bin, Last4: last4, PANHash: hash, Acquirer: "acq", CreatedAt: time.Now().UnixNano()}
	a.log.Apply(ctx, store.IntentCmd(t))
	a.log.Apply(ctx, store.OutcomeCmd(store.Outcome{ID: t.ID, Status: store.StatusApproved, RC: "00", AuthCode: "A00001", At: time.Now().UnixNano()}))
	return &wire.Message{MTI: wire.ResponseMTI(req.MTI), ResponseCode: "00", AuthCode: "A00001"}
}

type leader struct{}

func (leader) Current() *leadership.View { return &leadership.View{Leader: true, Serving: true} }

func newTestAPI(t *testing.T) (http.Handler, *approver) {
	t.Helper()
	srv, a := newTestServer(t, "")
	return srv.Handler(), a
}

// newTestServer is the API over a real store, with the ACS at acsURL
// ("" none).
func newTestServer(t *testing.T, acsURL string) (*Server, *approver) {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	v, err := store.NewVault(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	l := &applyLog{s: s}
	h := sha256.Sum256([]byte(testKey))
	if r := l.s.ApplyBatch([]uint64{1}, [][]byte{store.MerchantAddCmd(store.Merchant{ID: "shop", Keys: []store.APIKey{{Name: "k", Hash: h[:]}}})})[0].(store.Result); r.Err != nil {
		t.Fatal(r.Err)
	}
	l.idx = 1
	a := &approver{log: l, vault: v}
	srv := New(Config{NodeID: "n1", Handler: a, Raft: l, State: s, Vault: v, Views: leader{}, ACSURL: acsURL,
		Clock:  func() time.Time { return time.Date(2025, 11, 22, 12, 0, 0, 0, time.UTC) },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return srv, a
}

func do(h http.Handler, method, path, key, idem, body string) (int, string) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		r.Header.Set("Idempotency-Key", idem)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, strings.TrimSpace(w.Body.String())
}

const goodPayment = `{"amount":1000,"currency":"EUR","card":{"number":"4761739001010119","expiry":"12/30","cvc":"123"},"capture":"manual","order_id":"o1"}`

func TestRefusals(t *testing.T) {
	h, _ := newTestAPI(t)
	for _, c := range []struct {
		name, key, path, body string
		code                  int
		want                  string
	}{
		{"no key", "", "/v1/payments", goodPayment, 401, `{"error":{"code":"unauthorized","message":"send the merchant's API key: Authorization: Bearer KEY"}}`},
		{"wrong key", "nope", "/v1/payments", goodPayment, 401, `{"error":{"code":"unauthorized","message":"unknown API key"}}`},
		{"no body", testKey, "/v1/payments", ``, 400, `{"error":{"code":"invalid_request","message":"the request needs a JSON body"}}`},
		{"amount missing", testKey, "/v1/payments", `{"currency":"EUR"}`, 400,
			`{"error":{"code":"invalid_request","message":"amount is required: a positive integer in minor units (1000 is 10.00 EUR)","param":"amount"}}`},
		{"amount a fraction", testKey, "/v1/payments", `{"amount":10.5}`, 400,
			`{"error":{"code":"invalid_request","message":"amount must be a JSON integer (minor units)","param":"amount"}}`},
		{"amount zero", testKey, "/v1/payments", `{"amount":0,"currency":"EUR"}`, 400,
			`{"error":{"code":"invalid_request","message":"amount must be positive (minor units), not 0","param":"amount"}}`},
		{"unknown field", testKey, "/v1/payments", `{"amount":1,"colour":"red"}`, 400,
			`{"error":{"code":"invalid_request","message":"unknown parameter \"colour\"","param":"colour"}}`},
		{"currency", testKey, "/v1/payments", strings.Replace(goodPayment, `"EUR"`, `"XYZ"`, 1), 422,
			`{"error":{"code":"currency_unsupported","message":"currency \"XYZ\" is not one this API takes (EUR, USD, GBP, CHF, SEK, NOK, DKK, PLN, CZK, HUF, JPY, CAD, AUD or their numeric codes)","param":"currency"}}`},
		{"capture", testKey, "/v1/payments", strings.Replace(goodPayment, `"manual"`, `"later"`, 1), 400,
			`{"error":{"code":"invalid_request","message":"capture must be \"automatic\" or \"manual\", not \"later\"","param":"capture"}}`},
		{"Luhn", testKey, "/v1/payments", strings.Replace(goodPayment, "4761739001010119", "4761739001010118", 1), 422,
			`{"error":{"code":"invalid_card_number","message":"card.number fails the Luhn check: a typing error","param":"card.number"}}`},
		{"expired", testKey, "/v1/payments", strings.Replace(goodPayment, "12/30", "10/25", 1), 422,
			`{"error":{"code":"expired_card","message":"the card expired at the end of 10/25","param":"card.expiry"}}`},
		{"expiry form", testKey, "/v1/payments", strings.Replace(goodPayment, "12/30", "2030-12", 1), 400,
			`{"error":{"code":"invalid_request","message":"card.expiry must be \"MM/YY\", not \"2030-12\"","param":"card.expiry"}}`},
		{"cvc", testKey, "/v1/payments", strings.Replace(goodPayment, `"123"`, `"12"`, 1), 400,
			`{"error":{"code":"invalid_request","message":"card.cvc must be the 3 or 4 digits printed on the card","param":"card.cvc"}}`},
		{"unknown payment", testKey, "/v1/payments/pay_x/capture", `{}`, 404, `{"error":{"code":"not_found","message":"no payment \"pay_x\"","param":"id"}}`},
	} {
		code, body := do(h, "POST", c.path, c.key, "", c.body)
		if code != c.code || body != c.want {
			t.Errorf("%s: %d %s\nwant %d %s", c.name, code, body, c.code, c.want)
		}
	}
}

func TestIdempotency(t *testing.T) {
	h, a := newTestAPI(t)
	code, first := do(h, "POST", "/v1/payments", testKey, "k1", goodPayment)
	if code != 200 || !strings.Contains(first, `"status":"authorized"`) || strings.Contains(first, "cvc") {
		t.Fatalf("first: %d %s", code, first)
	}
	// The same call again: the same answer, sent as a repeat of the same
	// identity only if the first had no outcome (it has one: not sent).
	code, again := do(h, "POST", "/v1/payments", testKey, "k1", goodPayment)
	if code != 200 || again != first {
		t.Fatalf("retry: %d %s\nfirst %s", code, again, first)
	}
	if len(a.seen) != 1 {
		t.Fatalf("the pipeline got %d requests, want 1", len(a.seen))
	}
	m := a.seen[0]
	if m.MTI != "0100" || m.POSEntryMode != "810" || m.POSCondition != "59" || m.TerminalID != "W0000001" || m.MerchantID != "CNP000000000001" ||
		m.Expiry != "3012" || m.Currency != "978" || m.STAN != "000001" || m.TransmissionTime != "1122120000" {
		t.Fatalf("the request: %+v", m)
	}
	if cvc, _ := m.Private.Get(wire.TagCVC); cvc != "123" {
		t.Fatalf("DE48 CV %q, want 123", cvc)
	}
	// A different CVC is the same request (the CVC is not fingerprinted).
	if code, b := do(h, "POST", "/v1/payments", testKey, "k1", strings.Replace(goodPayment, `"123"`, `"999"`, 1)); code != 200 || b != first {
		t.Fatalf("retry with another CVC: %d %s", code, b)
	}
	code, b := do(h, "POST", "/v1/payments", testKey, "k1", strings.Replace(goodPayment, "1000", "1001", 1))
	if want := `{"error":{"code":"idempotency_key_reused","message":"Idempotency-Key \"k1\" was used for another request (payment ` + paymentID("shop", "k1") + `): send a new key for a new payment","param":"Idempotency-Key"}}`; code != 409 || b != want {
		t.Fatalf("same key, other body: %d %s\nwant %s", code, b, want)
	}
	// Capture names the pre-auth in DE90 and carries the card, not the CVC.
	if code, b := do(h, "POST", "/v1/payments/"+paymentID("shop", "k1")+"/capture", testKey, "", `{"amount":400}`); code != 200 || !strings.Contains(b, `"status":"captured"`) {
		t.Fatalf("capture: %d %s", code, b)
	}
	c := a.seen[1]
	if _, ok := c.Private.Get(wire.TagCVC); c.MTI != "0220" || c.OriginalData[:20] != "01000000011122120000" || c.PAN != "4761739001010119" || c.Amount != 400 || ok {
		t.Fatalf("the completion: %+v", c)
	}
}
