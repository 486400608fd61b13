package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/settle"
	"github.com/tillgate/tillgate/wire"
)

// The challenge test card: BIN 400000 (the ACS's challenge range here, as
// in the demo), passes Luhn, acqsim approves it.
const challengePAN = "4000000000000010"

// logBuf keeps every log line (all levels) for the checks that the CVC
// was never logged and for the ACS's one-time codes.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cnpEnv is a 3-node cluster with the payments API, acqsim, and the
// issuer's ACS (BIN 400000 needs a challenge; random codes, logged).
type cnpEnv struct {
	dir           string
	cl            *localcluster.Cluster
	acq           *sim.Sim
	logs, acsLogs *logBuf
	standby       string // a standby's API address: every call is forwarded
}

func startCNP(t *testing.T) *cnpEnv {
	t.Helper()
	e := &cnpEnv{dir: t.TempDir(), logs: &logBuf{}, acsLogs: &logBuf{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	// The acquirer checks the authentication values this ACS issues.
	issuer := sim.NewACS(sim.ACSConfig{Ranges: []string{"400000"},
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(e.acsLogs, e.logs), nil))})
	e.acq, err = sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(e.dir, "acqsim"), Dialect: wire.DefaultDialect(), Logger: log, Strict: true,
		ACS: issuer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.acq.Close() })
	acs := httptest.NewServer(issuer.Handler())
	t.Cleanup(acs.Close)
	e.cl, err = localcluster.Start(localcluster.Options{Dir: e.dir, AcquirerAddr: e.acq.Addr(), APIBase: -1, ACSURL: acs.URL, Logger: log,
		Tune: func(c *node.Config) {
			// No failover here: slow elections, so that a busy machine
			// (2 shared cores, a browser) does not change the active in the
			// middle of a customer's payment.
			c.Raft.HeartbeatTimeout, c.Raft.ElectionTimeout, c.Raft.LeaderLeaseTimeout = 3*time.Second, 3*time.Second, time.Second
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cl.Close() })
	leader, err := e.cl.WaitLeader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := adminapi.NewClient(e.cl.Configs[leader].AdminAddr).AddMerchant(ctx, cnpMerchant("books", "Corner Bookshop"))
		if err == nil {
			break
		}
		// A slow machine may hold an election right after the first one
		// (421: not the leader): ask the next active.
		if ctx.Err() != nil {
			t.Fatalf("merchant: %v", err)
		}
		if leader, err = e.cl.WaitLeader(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	e.standby = e.cl.Configs[(leader+1)%3].APIAddr
	return e
}

// close stops everything and checks that the CVC is in no file of the
// data directories and in no log line.
func (e *cnpEnv) close(t *testing.T) {
	t.Helper()
	e.cl.Close()
	e.acq.Close()
	assertNoCVC(t, e.dir, cnpCVC)
	if regexp.MustCompile(`(^|[^0-9])` + cnpCVC + `($|[^0-9])`).MatchString(e.logs.String()) {
		t.Errorf("the CVC %s is in the logs", cnpCVC)
	}
}

// acsCode is the one-time code of the ACS's latest challenge, read from
// its log where an issuer would have sent it to the cardholder's phone.
func (e *cnpEnv) acsCode(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`one-time code.* code=(\d{6})`).FindAllStringSubmatch(e.acsLogs.String(), -1)
	if len(m) == 0 {
		t.Fatalf("no challenge code in the ACS log:\n%s", e.acsLogs.String())
	}
	return m[len(m)-1][1]
}

// api makes one payments API call and decodes its answer into out.
func api(t *testing.T, addr, method, path, idem, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cnpKey)
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode
}

type linkJSON struct {
	ID       string   `json:"id"`
	URL      string   `json:"url"`
	Status   string   `json:"status"`
	Payment  string   `json:"payment"`
	Attempts []string `json:"attempts"`
}

type paymentAuthJSON struct {
	payment
	Authentication *struct {
		Status       string `json:"status"`
		ChallengeURL string `json:"challenge_url"`
		Reason       string `json:"reason"`
	} `json:"authentication"`
}

func createLink(t *testing.T, e *cnpEnv, key string, amount int, expires time.Time) linkJSON {
	t.Helper()
	var l linkJSON
	body := `{"amount":` + strings.TrimSpace(strings.Repeat(" ", 0)) + itoa(amount) + `,"currency":"EUR","description":"Invoice 1017: two paperbacks",` +
		`"customer":{"name":"Robin Reader","email":"robin@example.com"},"expires_at":"` + expires.UTC().Format(time.RFC3339) + `"}`
	if code := api(t, e.standby, "POST", "/v1/links", key, body, &l); code != 200 || l.Status != "open" || !strings.HasPrefix(l.URL, "http://"+e.standby+"/pay/") || len(l.URL) < len("http://"+e.standby+"/pay/")+32 {
		t.Fatalf("create link: %d %+v", code, l)
	}
	return l
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// acquirerSaw counts the acquirer's records of amount.
func acquirerSaw(t *testing.T, acq *sim.Sim, amount int64) int {
	t.Helper()
	recs, err := acq.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Amount == amount {
			n++
		}
	}
	return n
}

// TestPayLinkBrowser is issue 15's item 8 in one flow, in headless
// Chromium: a link made through the API (at a standby, forwarded), its
// page, a card of the challenge range (BIN 400000), the challenge with the
// code from the ACS's log, the receipt; the link is paid, the payment
// captured and authenticated (the acquirer, which checks the ACS's
// authentication value, approved it), the receipt and its copy in the
// outbox, and the link's page refuses a second payment. Then the merchant
// logs in to the portal, sees the link paid and its payment captured,
// refunds part of it there; the API shows the refund, and the day's
// settlement file has the purchase and the refund rows. Screenshots go to
// $TMPDIR/tillgate-paylink-screenshots.
func TestPayLinkBrowser(t *testing.T) {
	chrome := findChromium(t)
	e := startCNP(t)
	l := createLink(t, e, "invoice-1017", 2450, time.Now().Add(24*time.Hour))
	shots := filepath.Join(os.TempDir(), "tillgate-paylink-screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t, chrome)
	b.navigate(l.URL)
	text := b.waitFor("/pay/", "Pay Corner Bookshop")
	for _, want := range []string{"24.50 EUR", "Invoice 1017: two paperbacks", "Card number", "Expiry (MM/YY)", "CVC"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the payment page lacks %q:\n%s", want, text)
		}
	}
	if n := b.eval(`document.scripts.length + "/" + [...document.querySelectorAll("link,img,iframe")].length`); n != "0/0" {
		t.Fatalf("the payment page has scripts/external assets: %s", n)
	}
	b.fill("Card number", "4000 0000 0000 0010")
	b.fill("Expiry (MM/YY)", "12/39")
	b.fill("CVC", cnpCVC)
	b.screenshot(shots, "1-payment-page")
	b.click("Pay")
	text = b.waitFor("/challenge/", "Verification code")
	if !strings.Contains(text, "VISA ending 0010") || !strings.Contains(text, "24.50 EUR") {
		t.Fatalf("the challenge page:\n%s", text)
	}
	b.screenshot(shots, "2-challenge")
	b.fill("Verification code", e.acsCode(t))
	b.click("Verify")
	text = b.waitFor("/pay/", "Payment received")
	for _, want := range []string{"Authorization code", "VISA ending 0010", "24.50 EUR", "robin@example.com", "cannot be paid again"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the receipt lacks %q:\n%s", want, text)
		}
	}
	b.screenshot(shots, "3-receipt")

	var got linkJSON
	if code := api(t, e.standby, "GET", "/v1/links/"+l.ID, "", "", &got); code != 200 || got.Status != "paid" || got.Payment == "" {
		t.Fatalf("the link after paying: %d %+v", code, got)
	}
	var p paymentAuthJSON
	if code := api(t, e.standby, "GET", "/v1/payments/"+got.Payment, "", "", &p); code != 200 || p.Status != "captured" || p.AuthCode == "" ||
		p.Authentication == nil || p.Authentication.Status != "authenticated" || p.Authentication.ChallengeURL != "" {
		t.Fatalf("the link's payment: %d %+v %+v", code, p, p.Authentication)
	}
	var box struct {
		Data []struct {
			Kind, To, Subject, Body, Payment string
		} `json:"data"`
	}
	if code := api(t, e.standby, "GET", "/v1/outbox", "", "", &box); code != 200 || len(box.Data) != 2 {
		t.Fatalf("outbox: %d %+v", code, box)
	}
	if m := box.Data[0]; m.Kind != "receipt" || m.To != "robin@example.com" || m.Payment != p.ID || !strings.Contains(m.Body, "24.50 EUR") || !strings.Contains(m.Body, p.AuthCode) {
		t.Fatalf("the customer's receipt: %+v", m)
	}
	if m := box.Data[1]; m.Kind != "receipt_copy" || !strings.Contains(m.Body, "robin@example.com") {
		t.Fatalf("the merchant's copy: %+v", m)
	}

	// Paid: the page shows the receipt, and no form.
	b.navigate(l.URL)
	b.waitFor("/pay/", "cannot be paid again")
	if forms := b.eval(`String(document.forms.length)`); forms != "0" {
		t.Fatalf("a paid link's page has %s form(s)", forms)
	}
	if n := acquirerSaw(t, e.acq, 2450); n != 1 {
		t.Fatalf("the acquirer saw %d transactions of the link's amount, want 1", n)
	}
	if n := e.acq.Stats().Unauthenticated; n != 0 {
		t.Fatalf("the acquirer declined %d authorizations as unauthenticated", n)
	}

	// The merchant's portal (at the standby, forwarded): the link paid,
	// its payment captured; a refund of 10.00 from there.
	b.resize(1400, 1000)
	b.navigate("http://" + e.standby + "/portal/")
	b.waitFor("/portal/", "Log in")
	b.fill("API key", cnpKey)
	b.click("Log in")
	text = b.waitFor("/portal/", "Payment links")
	row := func(id string) string {
		return b.eval(`(() => { const r = document.getElementById(` + jsString(id) + `); return r ? r.innerText : "" })()`)
	}
	if r := row(l.ID); !strings.Contains(r, "paid") || !strings.Contains(r, "24.50 EUR") || !strings.Contains(r, p.ID) || !strings.Contains(r, "Invoice 1017") {
		t.Fatalf("the link's row in the portal: %q\n%s", r, text)
	}
	if r := row(p.ID); !strings.Contains(r, "captured") || !strings.Contains(r, "24.50 EUR") || !strings.Contains(r, "0010") {
		t.Fatalf("the payment's row in the portal: %q", r)
	}
	b.screenshot(shots, "4-portal-paid")
	pay := `document.getElementById(` + jsString(p.ID) + `)`
	b.eval(pay + `.querySelector('form[action$="/refund"] input[name=amount]').value = "10.00"; ` + pay + `.querySelector('form[action$="/refund"] button').click(); "ok"`)
	b.waitFor("/portal/", "Refund of "+p.ID+" done")
	if r := row(p.ID); !strings.Contains(r, "10.00 EUR") {
		t.Fatalf("the payment's row after the refund: %q", r)
	}
	b.screenshot(shots, "5-portal-refunded")
	// A new link from the portal's form: its URL is shown, and it is open.
	b.eval(`(() => { const f = document.querySelector('form[action="/portal/links"]');
  f.amount.value = "8.90"; f.description.value = "Invoice 1018: a bookmark"; f.customer_name.value = "Robin Reader";
  f.customer_email.value = "robin@example.com"; f.querySelector("button").click(); return "ok" })()`)
	b.waitFor("/portal/links", "Payment link created for 8.90 EUR")
	newURL := b.eval(`document.getElementById("new-link-url").value`)
	if !strings.HasPrefix(newURL, "http://"+e.standby+"/pay/") || !strings.Contains(b.eval(`document.getElementById("links").innerText`), "open") {
		t.Fatalf("the portal's new link: %q", newURL)
	}
	b.screenshot(shots, "6-portal-new-link")

	var refunded payment
	if code := api(t, e.standby, "GET", "/v1/payments/"+p.ID, "", "", &refunded); code != 200 || refunded.AmountRefunded != 1000 || refunded.Status != "captured" ||
		len(refunded.Transactions) != 2 || refunded.Transactions[1].Type != "refund" || refunded.Transactions[1].Amount != 1000 || refunded.Transactions[1].Status != "approved" {
		t.Fatalf("the API after the portal's refund: %d %+v", code, refunded)
	}

	// The day closed: the purchase and the refund settle, reconciled with
	// the acquirer's file.
	rows := e.closeDay(t, refunded.Terminal)
	var settled []string
	for _, r := range rows {
		settled = append(settled, fmt.Sprintf("%s %d %s %d", r.Type, r.Amount, r.Status, r.Net))
	}
	if len(settled) != 2 || settled[0] != "purchase 2450 approved 2450" || settled[1] != "refund 1000 approved -1000" {
		t.Fatalf("the settlement file's rows of the merchant: %q, want the purchase 2450 and the refund 1000", settled)
	}
	e.close(t)
}

// closeDay closes the business day through every node's admin API, checks
// the file reconciled with the acquirer's, and returns the file's rows of
// terminal.
func (e *cnpEnv) closeDay(t *testing.T, terminal string) []settle.Row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var admins []*adminapi.Client
	for _, c := range e.cl.Configs {
		admins = append(admins, adminapi.NewClient(c.AdminAddr))
	}
	closed, err := adminapi.CloseDay(ctx, admins, adminapi.DayCloseOptions{Export: acqsimExport(e.acq), Before: time.Minute, After: time.Second, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(closed.Files) != 1 || closed.Files[0].Err != nil || closed.Files[0].Recon == nil || !closed.Files[0].Recon.Reconciled || closed.Files[0].Recon.Discrepancies != 0 {
		t.Fatalf("day %s: files %+v", closed.Day.Day, closed.Files)
	}
	raw, _, err := settlementFile(admins[0], closed.Day.Day, closed.Files[0].File.Acquirer, "csv")
	if err != nil {
		t.Fatal(err)
	}
	f, err := settle.ReadCSV(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out []settle.Row
	for _, r := range f.Rows {
		if r.TerminalID == terminal {
			out = append(out, r)
		}
	}
	return out
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return strings.ReplaceAll(string(q), "</", "<\\/")
}

// form is a browser without JavaScript: a cookie jar, redirects not
// followed, so each answer is checked.
type form struct {
	t *testing.T
	c *http.Client
}

func newForm(t *testing.T) *form {
	jar, _ := cookiejar.New(nil)
	return &form{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (f *form) get(u string) (int, string) {
	f.t.Helper()
	resp, err := f.c.Get(u)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends the form and returns the status and the redirect's target.
func (f *form) post(u string, v url.Values) (int, string, string) {
	f.t.Helper()
	resp, err := f.c.PostForm(u, v)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var hiddenField = regexp.MustCompile(`name="(csrf|attempt)" value="([0-9a-f]+)"`)

func hidden(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

// TestPayLinkChallengeFailed pays a link as a browser without JavaScript
// would: a form from another site is refused, three wrong codes fail the
// challenge and decline the payment before anything goes to the
// acquirer, and the link stays open. Through the API, a card of the
// challenge range answers requires_authentication and one outside it
// authorizes without a challenge. An expired link cannot be paid. The CVC
// is in no file and no log line.
func TestPayLinkChallengeFailed(t *testing.T) {
	e := startCNP(t)
	l := createLink(t, e, "invoice-2001", 1300, time.Now().Add(24*time.Hour))
	base := "http://" + e.standby
	card := func(v url.Values) url.Values {
		v.Set("card_number", challengePAN)
		v.Set("expiry", "12/39")
		v.Set("cvc", cnpCVC)
		return v
	}

	f := newForm(t)
	code, page := f.get(l.URL)
	if code != 200 || !strings.Contains(page, `<label for="card_number">Card number</label>`) || !strings.Contains(page, `<button type="submit">Pay</button>`) {
		t.Fatalf("payment page: %d\n%s", code, page)
	}
	// Another site's form: no cookie, so no match.
	if code, _, body := newForm(t).post(l.URL, card(hidden(page))); code != 403 || !strings.Contains(body, "Nothing was charged") {
		t.Fatalf("cross-site post: %d\n%s", code, body)
	}
	code, loc, body := f.post(l.URL, card(hidden(page)))
	if code != 303 || !strings.HasPrefix(loc, "/challenge/") {
		t.Fatalf("pay: %d %q\n%s", code, loc, body)
	}
	code, page = f.get(base + loc)
	if code != 200 || !strings.Contains(page, "Verification code") {
		t.Fatalf("challenge page: %d\n%s", code, page)
	}
	right := e.acsCode(t)
	wrong := right[:5] + string('0'+(right[5]-'0'+1)%10)
	for left := 2; left >= 1; left-- {
		v := hidden(page)
		v.Set("code", wrong)
		if code, _, body := f.post(base+loc, v); code != 200 || !strings.Contains(body, itoa(left)+" attempt(s) left") {
			t.Fatalf("wrong code: %d\n%s", code, body)
		}
	}
	v := hidden(page)
	v.Set("code", wrong)
	if code, to, body := f.post(base+loc, v); code != 303 || !strings.HasPrefix(l.URL, base+to) {
		t.Fatalf("third wrong code: %d %q\n%s", code, to, body)
	}
	code, page = f.get(l.URL)
	if code != 200 || !strings.Contains(page, "could not confirm it was you") || !strings.Contains(page, "Card number") {
		t.Fatalf("the link's page after a failed challenge: %d\n%s", code, page)
	}
	var got linkJSON
	if api(t, e.standby, "GET", "/v1/links/"+l.ID, "", "", &got); got.Status != "open" || len(got.Attempts) != 1 {
		t.Fatalf("the link after a failed challenge: %+v", got)
	}
	var p paymentAuthJSON
	if code := api(t, e.standby, "GET", "/v1/payments/"+got.Attempts[0], "", "", &p); code != 200 || p.Status != "declined" ||
		p.Authentication == nil || p.Authentication.Status != "failed" || p.Authentication.Reason != "too many wrong codes" || len(p.Transactions) != 0 {
		t.Fatalf("the failed payment: %d %+v %+v", code, p, p.Authentication)
	}
	if n := acquirerSaw(t, e.acq, 1300); n != 0 {
		t.Fatalf("the acquirer saw %d transactions of a payment whose challenge failed", n)
	}

	// The API: a challenge-range card waits for its challenge; another
	// card goes through frictionless.
	body3ds := `{"amount":1500,"currency":"EUR","card":{"number":"` + challengePAN + `","expiry":"12/39","cvc":"` + cnpCVC + `"}}`
	var r paymentAuthJSON
	if code := api(t, e.standby, "POST", "/v1/payments", "api-3ds", body3ds, &r); code != 200 || r.Status != "requires_authentication" ||
		r.Authentication == nil || r.Authentication.Status != "pending" || !strings.HasPrefix(r.Authentication.ChallengeURL, base+"/challenge/"+r.ID+"/") {
		t.Fatalf("a challenge-range card: %d %+v %+v", code, r, r.Authentication)
	}
	var again paymentAuthJSON
	if code := api(t, e.standby, "POST", "/v1/payments", "api-3ds", body3ds, &again); code != 200 || again.ID != r.ID || again.Authentication.ChallengeURL != r.Authentication.ChallengeURL {
		t.Fatalf("its retry: %d %+v", code, again)
	}
	var refused payment
	if code := api(t, e.standby, "POST", "/v1/payments/"+r.ID+"/capture", "", "", &refused); code != 409 || refused.Error == nil || refused.Error.Code != "payment_state" {
		t.Fatalf("capture before authentication: %d %+v", code, refused)
	}
	if code := api(t, e.standby, "POST", "/v1/payments", "api-frictionless", cnpPayment(1600, "automatic", "o-5"), &r); code != 200 || r.Status != "captured" ||
		r.Authentication == nil || r.Authentication.Status != "not_required" {
		t.Fatalf("a card outside the range: %d %+v %+v", code, r, r.Authentication)
	}

	// An expired link.
	old := createLink(t, e, "invoice-2002", 1700, time.Now().Add(2*time.Second))
	f2 := newForm(t)
	code, page = f2.get(old.URL)
	for deadline := time.Now().Add(10 * time.Second); code != 410 && time.Now().Before(deadline); code, _ = f2.get(old.URL) {
		time.Sleep(100 * time.Millisecond)
	}
	if code != 410 {
		t.Fatalf("the link did not expire: %d", code)
	}
	if code, to, _ := f2.post(old.URL, card(hidden(page))); code != 303 || !strings.HasPrefix(old.URL, base+to) {
		t.Fatalf("paying an expired link: %d %q", code, to)
	}
	if _, page = f2.get(old.URL); !strings.Contains(page, "expired") || strings.Contains(page, "<form") {
		t.Fatalf("the expired link's page:\n%s", page)
	}
	e.close(t)
}
