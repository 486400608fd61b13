package payments

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// testCAVV is the authentication value fakeACS issues.
const testCAVV = "AAECAwQFBgcICQoLDA0ODxAREhM="

// fakeACS wants a challenge for every card and takes the code 123456.
func fakeACS(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		switch {
		case r.URL.Path == "/acs/v1/authentications":
			json.NewEncoder(w).Encode(map[string]any{"id": "acs-1", "status": "challenge", "attempts_left": 3})
		case body["code"] == "123456":
			json.NewEncoder(w).Encode(map[string]any{"id": "acs-1", "status": "authenticated", "authentication_value": testCAVV, "eci": "05"})
		default:
			json.NewEncoder(w).Encode(map[string]any{"id": "acs-1", "status": "retry", "attempts_left": 2})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// passChallenge submits code on the challenge page at path, as a browser
// with the page's CSRF cookie would, and returns the answer.
func passChallenge(t *testing.T, h http.Handler, path, code string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(w.Body.String())
	if w.Code != 200 || csrf == nil {
		t.Fatalf("challenge page: %d %s", w.Code, w.Body.String())
	}
	r := httptest.NewRequest("POST", path, strings.NewReader(url.Values{"csrf": {csrf[1]}, "code": {code}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: csrf[1]})
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestChallengeHoldsTheCard: a payment that needs a challenge is not sent
// until the challenge passes; then it is authorized with the card and
// CVC held in memory since the create call. Without the held card (this
// node was not the active at create, or restarted), the passed challenge
// counts and the client's retry with the card authorizes.
func TestChallengeHoldsTheCard(t *testing.T) {
	srv, a := newTestServer(t, fakeACS(t).URL)
	h := srv.Handler()
	code, body := do(h, "POST", "/v1/payments", testKey, "k1", goodPayment)
	var v PaymentView
	json.Unmarshal([]byte(body), &v)
	if code != 200 || v.Status != StatusRequiresAuthentication || v.Authentication == nil || v.Authentication.Status != "pending" ||
		!strings.HasPrefix(v.Authentication.ChallengeURL, "http://example.com/challenge/"+v.ID+"/") || len(a.seen) != 0 {
		t.Fatalf("create: %d %s (pipeline saw %d)", code, body, len(a.seen))
	}
	path := strings.TrimPrefix(v.Authentication.ChallengeURL, "http://example.com")
	if w := passChallenge(t, h, path, "000000"); w.Code != 200 || !strings.Contains(w.Body.String(), "2 attempt(s) left") || len(a.seen) != 0 {
		t.Fatalf("wrong code: %d %s", w.Code, w.Body.String())
	}
	if w := passChallenge(t, h, path, "123456"); w.Code != 200 || !strings.Contains(w.Body.String(), "Payment authorized") {
		t.Fatalf("right code: %d %s", w.Code, w.Body.String())
	}
	if len(a.seen) != 1 {
		t.Fatalf("the pipeline saw %d requests, want 1", len(a.seen))
	}
	if cvc, _ := a.seen[0].Private.Get(wire.TagCVC); cvc != "123" || a.seen[0].Expiry != "3012" {
		t.Fatalf("the authorization after the challenge: CVC %q, expiry %q", cvc, a.seen[0].Expiry)
	}
	if av, _ := a.seen[0].Private.Get(wire.TagAuthValue); av != testCAVV {
		t.Fatalf("the authorization after the challenge carries the authentication value %q, want the ACS's", av)
	}
	if eci, _ := a.seen[0].Private.Get(wire.TagECI); eci != "05" {
		t.Fatalf("the authorization after the challenge: ECI %q", eci)
	}
	if _, ok := srv.hold.get(v.ID); ok {
		t.Fatal("the card is still held after its authorization")
	}
	code, body = do(h, "GET", "/v1/payments/"+v.ID, testKey, "", "")
	if code != 200 || !strings.Contains(body, `"status":"authorized"`) || !strings.Contains(body, `"authentication":{"status":"authenticated","eci":"05"}`) ||
		strings.Contains(body, testCAVV) {
		t.Fatalf("get (the ECI shown, never the value): %d %s", code, body)
	}

	// The card lost (a failover): the challenge passes, nothing is sent,
	// the page says to enter the card again; the retry authorizes.
	do(h, "POST", "/v1/payments", testKey, "k2", goodPayment)
	p2 := paymentID("shop", "k2")
	srv.hold.clear()
	got, _ := srv.cfg.State.Payment(p2)
	if w := passChallenge(t, h, challengePath(got), "123456"); !strings.Contains(w.Body.String(), "no longer held") || len(a.seen) != 1 {
		t.Fatalf("challenge without the card: %d %s", w.Code, w.Body.String())
	}
	if code, body := do(h, "POST", "/v1/payments", testKey, "k2", goodPayment); code != 200 || !strings.Contains(body, `"status":"authorized"`) || len(a.seen) != 2 {
		t.Fatalf("retry after the challenge: %d %s", code, body)
	}
	if av, _ := a.seen[1].Private.Get(wire.TagAuthValue); av != testCAVV {
		t.Fatalf("the retry's authorization carries the value %q from the payment's record, want the ACS's", av)
	}
	// A form without the cookie's token is refused, and nothing is sent.
	do(h, "POST", "/v1/payments", testKey, "k3", goodPayment)
	got, _ = srv.cfg.State.Payment(paymentID("shop", "k3"))
	r := httptest.NewRequest("POST", challengePath(got), strings.NewReader("csrf=abc&code=123456"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 403 || len(a.seen) != 2 {
		t.Fatalf("form without the cookie: %d, pipeline saw %d", w.Code, len(a.seen))
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/challenge/"+got.ID+"/0123456789abcdef0123456789abcdef", nil))
	if w.Code != 404 {
		t.Fatalf("a guessed token: %d", w.Code)
	}
}

// TestLinkAfterLostCard: a link's payment whose card is no longer held
// when its challenge passes (a failover) is finished by entering the card
// again on the link's page, as the same attempt: one authorization, the
// receipt and its copy in the outbox, and the link paid for good.
func TestLinkAfterLostCard(t *testing.T) {
	srv, a := newTestServer(t, fakeACS(t).URL)
	h := srv.Handler()
	code, body := do(h, "POST", "/v1/links", testKey, "l1", `{"amount":2450,"currency":"EUR","description":"Invoice 7","customer":{"name":"Robin","email":"robin@example.com"},"expires_at":"2025-11-23T12:00:00Z"}`)
	var l LinkView
	json.Unmarshal([]byte(body), &l)
	if code != 200 || l.Status != LinkOpen || !strings.HasPrefix(l.URL, "http://example.com/pay/") {
		t.Fatalf("link: %d %s", code, body)
	}
	path := strings.TrimPrefix(l.URL, "http://example.com")
	submit := func(page string) *httptest.ResponseRecorder {
		t.Helper()
		f := url.Values{"card_number": {"4761 7390 0101 0119"}, "expiry": {"12/30"}, "cvc": {"123"}}
		for _, m := range regexp.MustCompile(`name="(csrf|attempt)" value="([0-9a-f]+)"`).FindAllStringSubmatch(page, -1) {
			f.Set(m[1], m[2])
		}
		r := httptest.NewRequest("POST", path, strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: f.Get("csrf")})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	get := func() string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Body.String()
	}
	page := get()
	w := submit(page)
	challenge := w.Header().Get("Location")
	if w.Code != 303 || !strings.HasPrefix(challenge, "/challenge/") {
		t.Fatalf("pay: %d %q", w.Code, challenge)
	}
	srv.hold.clear() // the failover
	if w := passChallenge(t, h, challenge, "123456"); !strings.Contains(w.Body.String(), "no longer held") || !strings.Contains(w.Body.String(), `href="`+path+`"`) {
		t.Fatalf("challenge without the card: %d %s", w.Code, w.Body.String())
	}
	page = get()
	if !strings.Contains(page, "Enter your card again to finish") || len(a.seen) != 0 {
		t.Fatalf("the link's page after a lost card:\n%s", page)
	}
	if w := submit(page); w.Code != 303 || w.Header().Get("Location") != path || len(a.seen) != 1 {
		t.Fatalf("the card again: %d %q, pipeline saw %d", w.Code, w.Header().Get("Location"), len(a.seen))
	}
	if page = get(); !strings.Contains(page, "Payment received") || strings.Contains(page, "<form") {
		t.Fatalf("after paying:\n%s", page)
	}
	if code, body := do(h, "GET", "/v1/outbox", testKey, "", ""); code != 200 || strings.Count(body, `"kind":"receipt`) != 2 {
		t.Fatalf("outbox: %d %s", code, body)
	}
	if code, body := do(h, "GET", "/v1/links/"+l.ID, testKey, "", ""); code != 200 || !strings.Contains(body, `"status":"paid"`) || strings.Count(body, "pay_") != 2 { // one attempt, which paid
		t.Fatalf("the link: %d %s", code, body)
	}
}

type noActive struct{}

func (noActive) Current() *leadership.View { return &leadership.View{} }

// TestPagesWithoutActive: a standby that knows no active answers a
// browser's page with a page saying to try again, an API call with the
// API's JSON error.
func TestPagesWithoutActive(t *testing.T) {
	srv, _ := newTestServer(t, "")
	srv.cfg.Views = noActive{}
	h := srv.Handler()
	for _, path := range []string{"/pay/sometoken", "/challenge/pay_1/token", "/portal/"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != 503 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), "changing servers") || w.Header().Get("Retry-After") != "1" {
			t.Errorf("%s: %d %s\n%s", path, w.Code, w.Header(), w.Body.String())
		}
	}
	if code, body := do(h, "GET", "/v1/payments", testKey, "", ""); code != 503 || !strings.Contains(body, `"code":"no_active"`) {
		t.Errorf("API call: %d %s", code, body)
	}
}

// TestLinkSupersededAttemptNotSent: a customer walks away from a link's
// challenge; past store.LinkAttemptWindow a new attempt pays the link.
// When the first attempt's challenge is passed after all (an old tab),
// its authorization is not sent: the link would be paid twice.
func TestLinkSupersededAttemptNotSent(t *testing.T) {
	srv, a := newTestServer(t, fakeACS(t).URL)
	now := time.Date(2025, 11, 22, 12, 0, 0, 0, time.UTC)
	srv.cfg.Clock = func() time.Time { return now }
	h := srv.Handler()
	code, body := do(h, "POST", "/v1/links", testKey, "l1", `{"amount":2450,"currency":"EUR","description":"Invoice 8","customer":{"name":"Robin","email":"robin@example.com"},"expires_at":"2025-11-23T12:00:00Z"}`)
	var l LinkView
	json.Unmarshal([]byte(body), &l)
	if code != 200 {
		t.Fatalf("link: %d %s", code, body)
	}
	path := strings.TrimPrefix(l.URL, "http://example.com")
	pay := func() string {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		f := url.Values{"card_number": {"4761 7390 0101 0119"}, "expiry": {"12/30"}, "cvc": {"123"}}
		for _, m := range regexp.MustCompile(`name="(csrf|attempt)" value="([0-9a-f]+)"`).FindAllStringSubmatch(w.Body.String(), -1) {
			f.Set(m[1], m[2])
		}
		r := httptest.NewRequest("POST", path, strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: f.Get("csrf")})
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if loc := w.Header().Get("Location"); w.Code != 303 || !strings.HasPrefix(loc, "/challenge/") {
			t.Fatalf("pay: %d %q %s", w.Code, loc, w.Body.String())
		}
		return w.Header().Get("Location")
	}
	first := pay()
	now = now.Add(store.LinkAttemptWindow + time.Minute)
	second := pay()
	passChallenge(t, h, second, "123456")
	if len(a.seen) != 1 {
		t.Fatalf("the second attempt: pipeline saw %d", len(a.seen))
	}
	if w := passChallenge(t, h, first, "123456"); w.Code != 303 || w.Header().Get("Location") != path {
		t.Fatalf("the first attempt's challenge: %d %q", w.Code, w.Header().Get("Location"))
	}
	if len(a.seen) != 1 {
		t.Fatalf("the superseded attempt was sent: pipeline saw %d authorizations", len(a.seen))
	}
}
