package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/webhooks"
	"github.com/tillgate/tillgate/settle"
)

// receiver is a merchant's webhook endpoint: it refuses (503) while
// failing is set, verifies every signature, and keeps what it accepted.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	fail   bool
	tried  int             // attempts refused
	seen   map[string]bool // event ids accepted
	order  []string        // "id type" accepted, first time each
	dups   int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhooks.Verify(rc.secret, r.Header.Get(webhooks.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		rc.t.Errorf("webhook signature: %v", err)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail {
		rc.tried++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var e webhooks.Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID != r.Header.Get(webhooks.EventIDHeader) {
		rc.t.Errorf("webhook body %s: %v", body, err)
	}
	if rc.seen[e.ID] {
		rc.dups++ // at least once: a repeat is the merchant's to drop
		return
	}
	rc.seen[e.ID] = true
	rc.order = append(rc.order, e.ID+" "+e.Type+" "+e.PaymentID)
}

func (rc *receiver) state() (tried int, order []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.tried, append([]string(nil), rc.order...)
}

func (rc *receiver) setFail(v bool) {
	rc.mu.Lock()
	rc.fail = v
	rc.mu.Unlock()
}

// waitUntil polls cond (the state it names) until it holds.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cnpRetry repeats a call while the cluster answers 503 (no active yet),
// as a client would.
func cnpRetry(t *testing.T, addr, method, path, idem, body string) (int, payment) {
	t.Helper()
	var code int
	var p payment
	for deadline := time.Now().Add(30 * time.Second); ; {
		if code, p = cnpCall(t, addr, method, path, idem, body); code != 503 || time.Now().After(deadline) {
			return code, p
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCNPFailover: a pre-authorization through the API, the active
// stopped before its capture, the capture through a survivor; the
// merchant's webhook refuses until after the leader change. Nothing is
// lost: the capture completes the authorization the old active recorded,
// an idempotent retry of the authorization returns it without a second
// charge (acqsim's ledger: one authorization, one completion), and the
// merchant receives both events, signed, in order, from the queue the new
// active inherited.
func TestCNPFailover(t *testing.T) {
	dir := t.TempDir()
	acq, cl, leader := startCNPCluster(t, dir, sim.Config{Strict: true}, nil)
	rc := &receiver{t: t, secret: "whsec_systemtest_0123456789", fail: true, seen: map[string]bool{}}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := adminapi.NewClient(cl.Configs[leader].AdminAddr)
	m, err := adm.AddMerchant(ctx, cnpMerchant("shop", "Shop"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err = adm.SetMerchantWebhook(ctx, "shop", adminapi.MerchantWebhook{URL: hook.URL + "/hooks/tillgate", Secret: rc.secret}); err != nil || m.Webhook == "" {
		t.Fatalf("webhook: %+v %v", m, err)
	}

	active := cl.Configs[leader].APIAddr
	code, auth := cnpCall(t, active, "POST", "/v1/payments", "fo-1", cnpPayment(5000, "manual", "fo-1"))
	if code != 200 || auth.Status != "authorized" {
		t.Fatalf("authorize: %d %+v", code, auth)
	}
	// The old active tries the event and is refused: it stays queued.
	waitUntil(t, 30*time.Second, "a refused delivery by the first active", func() bool { n, _ := rc.state(); return n > 0 })
	if err := cl.StopNode(leader); err != nil {
		t.Fatal(err)
	}
	next, err := cl.WaitLeader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if next == leader {
		t.Fatalf("the stopped node %d still leads", leader)
	}
	survivor := cl.Configs[(leader+1)%3].APIAddr
	code, capt := cnpRetry(t, survivor, "POST", "/v1/payments/"+auth.ID+"/capture", "", `{"amount":4500}`)
	if code != 200 || capt.Status != "captured" || capt.AmountCaptured != 4500 {
		t.Fatalf("capture after the failover: %d %+v", code, capt)
	}
	code, again := cnpRetry(t, survivor, "POST", "/v1/payments", "fo-1", cnpPayment(5000, "manual", "fo-1"))
	if code != 200 || again.ID != auth.ID || again.Status != "captured" || again.AuthCode != auth.AuthCode || again.Transactions[0].ID != auth.Transactions[0].ID {
		t.Fatalf("idempotent retry of the authorization: %d %+v, first %+v", code, again, auth)
	}
	recs, err := acq.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	var auths, authRequests, completions int64
	for _, r := range recs {
		if !strings.Contains(r.Key, m.Terminal) {
			continue
		}
		switch r.Kind {
		case sim.KindPreAuth:
			auths++
			authRequests += r.Requests
		case sim.KindCompletion:
			completions++
		}
	}
	if auths != 1 || authRequests != 1 || completions != 1 {
		t.Fatalf("acqsim saw %d authorizations in %d requests and %d completions, want 1, 1, 1: %+v", auths, authRequests, completions, recs)
	}

	// The merchant comes back: the new active delivers the queue.
	rc.setFail(false)
	want := []string{"evt_shop_1 payment.authorized " + auth.ID, "evt_shop_2 payment.captured " + auth.ID}
	waitUntil(t, 60*time.Second, "both events at the merchant", func() bool { _, got := rc.state(); return len(got) == len(want) })
	if _, got := rc.state(); got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("the merchant got %q, want %q", got, want)
	}
	// Acknowledged through the log: every survivor's queue is empty.
	for i, n := range cl.Nodes {
		if n == nil {
			continue
		}
		waitUntil(t, 30*time.Second, "an empty webhook queue on "+cl.Configs[i].ID, func() bool {
			_, depth, err := n.Store().WebhookHeads()
			return err == nil && depth == 0
		})
	}
}

// TestPaymentsAPIOverTLS: in a TLS cluster (the demo's --tls) the payments
// API and the portal are HTTPS only; a call to a standby is forwarded to
// the active over HTTPS (verified against the cluster's CA) and answered;
// the portal's session cookie is Secure.
func TestPaymentsAPIOverTLS(t *testing.T) {
	dir := t.TempDir()
	certs, err := pki.WriteCluster(filepath.Join(dir, "tls"), "demo-store", localcluster.CertNames(3))
	if err != nil {
		t.Fatal(err)
	}
	_, cl, leader := startCNPCluster(t, dir, sim.Config{TLS: acqsimTLS(t, certs)}, certs)
	tc, err := localcluster.AdminTLS(certs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adminapi.NewTLSClient(cl.Configs[leader].AdminAddr, tc).AddMerchant(ctx, cnpMerchant("shop", "Shop")); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	standby := cl.Configs[(leader+1)%3].APIAddr
	// Right after the election a standby may not know the active yet: 503,
	// retried under the same key, as a client does.
	var p payment
	var resp *http.Response
	for deadline := time.Now().Add(30 * time.Second); ; {
		req, _ := http.NewRequest("POST", "https://"+standby+"/v1/payments", strings.NewReader(cnpPayment(1234, "automatic", "tls-1")))
		req.Header.Set("Authorization", "Bearer "+cnpKey)
		req.Header.Set("Idempotency-Key", "tls-1")
		if resp, err = client.Do(req); err != nil {
			t.Fatal(err)
		}
		p = payment{}
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp.StatusCode != 200 || p.Status != "captured" || resp.TLS == nil {
		t.Fatalf("payment at a standby over HTTPS: %s %+v (error %+v)", resp.Status, p, p.Error)
	}
	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + standby + "/portal/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the payments API answered plain HTTP")
		}
	}
	// The portal through the standby: the session cookie is Secure.
	resp, err = client.PostForm("https://"+standby+"/portal/login", url.Values{"key": {cnpKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure || !resp.Cookies()[0].HttpOnly {
		t.Fatalf("portal login over HTTPS: %s %+v", resp.Status, resp.Cookies())
	}
}

// TestCNPSettlement: a card-not-present payment settles by capture time.
// Authorized on day 1 (a pre-auth: not in the file), captured in part and
// refunded in part on day 2: day 1's file has no row of the merchant's
// terminal, day 2's has the completion (+4500) and the refund (-1000),
// and both days reconcile with acqsim's export without a discrepancy.
func TestCNPSettlement(t *testing.T) {
	dir := t.TempDir()
	acq, cl, leader := startCNPCluster(t, dir, sim.Config{Strict: true}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var admins []*adminapi.Client
	for _, c := range cl.Configs {
		admins = append(admins, adminapi.NewClient(c.AdminAddr))
	}
	m, err := admins[leader].AddMerchant(ctx, cnpMerchant("shop", "Shop"))
	if err != nil {
		t.Fatal(err)
	}
	api := cl.Configs[(leader+1)%3].APIAddr // a standby: forwarded
	closeDay := func() adminapi.ClosedDay {
		t.Helper()
		closed, err := adminapi.CloseDay(ctx, admins, adminapi.DayCloseOptions{Export: acqsimExport(acq), Before: time.Minute, After: time.Second, Poll: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if len(closed.Files) != 1 || closed.Files[0].Err != nil || closed.Files[0].Recon == nil || !closed.Files[0].Recon.Reconciled || closed.Files[0].Recon.Discrepancies != 0 {
			t.Fatalf("day %s: files %+v", closed.Day.Day, closed.Files)
		}
		return closed
	}
	rowsOf := func(day, acquirer string) []settle.Row {
		t.Helper()
		b, _, err := settlementFile(admins[leader], day, acquirer, "csv")
		if err != nil {
			t.Fatal(err)
		}
		f, err := settle.ReadCSV(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var out []settle.Row
		for _, r := range f.Rows {
			if r.TerminalID == m.Terminal {
				out = append(out, r)
			}
		}
		return out
	}

	code, p := cnpRetry(t, api, "POST", "/v1/payments", "st-1", cnpPayment(5000, "manual", "st-1"))
	if code != 200 || p.Status != "authorized" {
		t.Fatalf("authorize: %d %+v", code, p)
	}
	day1 := closeDay()
	if rows := rowsOf(day1.Day.Day, day1.Files[0].File.Acquirer); len(rows) != 0 {
		t.Fatalf("day 1 (authorization only) settles %+v, want nothing", rows)
	}
	if code, p = cnpRetry(t, api, "POST", "/v1/payments/"+p.ID+"/capture", "", `{"amount":4500}`); code != 200 || p.Status != "captured" {
		t.Fatalf("capture on day 2: %d %+v", code, p)
	}
	if code, p = cnpRetry(t, api, "POST", "/v1/payments/"+p.ID+"/refunds", "st-1-r", `{"amount":1000}`); code != 200 || p.AmountRefunded != 1000 {
		t.Fatalf("refund on day 2: %d %+v", code, p)
	}
	day2 := closeDay()
	rows := rowsOf(day2.Day.Day, day2.Files[0].File.Acquirer)
	var got []string
	var net int64
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s %d %s", r.Type, r.Amount, r.Status))
		net += r.Net
	}
	if len(rows) != 2 || got[0] != "completion 4500 approved" || got[1] != "refund 1000 approved" || net != 3500 || rows[0].MerchantID != m.MID {
		t.Fatalf("day 2 settles %q (net %d), want the completion 4500 and the refund 1000, net 3500", got, net)
	}
}
