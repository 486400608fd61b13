package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

const portalKey = "portal-test-merchant-key"

// portalNode starts one node with the payments API and a merchant, and
// returns the API's address.
func portalNode(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, Nodes: 1, AcquirerAddr: s.Addr(), APIBase: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := sha256.Sum256([]byte(portalKey))
	if _, err := adminapi.NewClient(cl.Configs[0].AdminAddr).AddMerchant(ctx, adminapi.MerchantAdd{ID: "books", Name: "Corner Books", KeyName: "shop", KeyHash: hex.EncodeToString(h[:])}); err != nil {
		t.Fatal(err)
	}
	return cl.Configs[0].APIAddr
}

// apiPayment makes a payment through the API and returns its id.
func apiPayment(t *testing.T, api string, amount int64, capture, order string) string {
	t.Helper()
	body := fmt.Sprintf(`{"amount":%d,"currency":"EUR","card":{"number":"4761739001010119","expiry":"12/39","cvc":"123"},"capture":%q,"order_id":%q,"description":"Order %s"}`, amount, capture, order, order)
	req, _ := http.NewRequest("POST", "http://"+api+"/v1/payments", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+portalKey)
	req.Header.Set("Idempotency-Key", order)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct{ ID, Status string }
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("payment %s: %d %s", order, resp.StatusCode, b)
	}
	return p.ID
}

func apiGet(t *testing.T, api, id string) (status string, refunded int64) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+api+"/v1/payments/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+portalKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Status         string
		AmountRefunded int64 `json:"amount_refunded"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&p)
	return p.Status, p.AmountRefunded
}

// TestPortalGuards: the session cookie's attributes, and the refusals: a
// wrong key, a form without the session's CSRF token, a form from another
// site, no session.
func TestPortalGuards(t *testing.T) {
	api := portalNode(t)
	id := apiPayment(t, api, 2500, "automatic", "g-1")
	base := "http://" + api
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values, cookie *http.Cookie, origin string) *http.Response {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := post("/portal/login", url.Values{"key": {"wrong"}}, nil, ""); r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
		t.Fatalf("wrong key: %s, cookies %v", r.Status, r.Cookies())
	}
	if r := post("/portal/login", url.Values{"key": {portalKey}}, nil, "http://evil.example"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("login from another site: %s", r.Status)
	}
	r := post("/portal/login", url.Values{"key": {portalKey}}, nil, base)
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		t.Fatalf("login: %s %v", r.Status, r.Cookies())
	}
	c := r.Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/portal/" || strings.Contains(c.Value, portalKey) {
		t.Fatalf("session cookie %+v", c)
	}
	// The page with the session shows the payment and carries the token.
	req, _ := http.NewRequest("GET", base+"/portal/", nil)
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), id) || !strings.Contains(string(page), `name="csrf"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("orders page lacks the payment, the CSRF token or the CSP:\n%s", page)
	}
	for _, ext := range []string{"http://", "https://", "<script", "<link ", "src="} {
		if strings.Contains(string(page), ext) {
			t.Errorf("portal page refers to %q", ext)
		}
	}
	refund := url.Values{"amount": {"5.00"}, "currency": {"EUR"}, "csrf": {"forged"}}
	if r := post("/portal/payments/"+id+"/refund", refund, c, ""); r.StatusCode != http.StatusForbidden {
		t.Fatalf("refund with a forged CSRF token: %s", r.Status)
	}
	if r := post("/portal/payments/"+id+"/refund", refund, nil, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refund without a session: %s", r.Status)
	}
	tampered := *c
	tampered.Value = "x" + c.Value[1:]
	if r := post("/portal/payments/"+id+"/refund", refund, &tampered, ""); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refund with a tampered cookie: %s", r.Status)
	}
	if st, refunded := apiGet(t, api, id); st != "captured" || refunded != 0 {
		t.Fatalf("after refused refunds: %s, %d refunded", st, refunded)
	}
}

// TestPortalBrowser drives the portal in headless Chromium: log in with the
// key, see the orders, refund part of a captured payment, capture a
// pre-authorization, filter by status. Screenshots go to
// $PORTAL_SCREENSHOTS (a temporary directory without it).
func TestPortalBrowser(t *testing.T) {
	chrome := findChromium(t)
	api := portalNode(t)
	paid := apiPayment(t, api, 2500, "automatic", "order-1001")
	preauth := apiPayment(t, api, 4000, "manual", "order-1002")
	dir := os.Getenv("PORTAL_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t, chrome)
	b.navigate("http://" + api + "/portal/")
	b.waitFor("the login form", `document.querySelector('input[name=key]')`)
	b.screenshot(filepath.Join(dir, "1-login.png"))

	b.eval(`document.querySelector('input[name=key]').value = ` + jsString(portalKey) + `; document.querySelector('form[action="/portal/login"] button').click(); true`)
	b.waitFor("the orders", `document.getElementById(`+jsString(paid)+`) && document.getElementById(`+jsString(preauth)+`)`)
	if s := b.text(`document.getElementById(` + jsString(paid) + `).innerText`); !strings.Contains(s, "captured") || !strings.Contains(s, "25.00 EUR") || !strings.Contains(s, "order-1001") {
		t.Fatalf("row of the paid order: %q", s)
	}
	if s := b.text(`document.getElementById(` + jsString(preauth) + `).innerText`); !strings.Contains(s, "authorized") {
		t.Fatalf("row of the pre-authorization: %q", s)
	}
	if got := b.text(`document.cookie`); got != "" {
		t.Fatalf("the session cookie is readable by scripts: %q", got)
	}
	b.screenshot(filepath.Join(dir, "2-orders.png"))

	// Refund 10.00 of the captured order.
	row := `document.getElementById(` + jsString(paid) + `)`
	b.eval(row + `.querySelector('form[action$="/refund"] input[name=amount]').value = "10.00"; ` + row + `.querySelector('form[action$="/refund"] button').click(); true`)
	b.waitFor("the refund's notice", `document.querySelector('[role=status]') && document.querySelector('[role=status]').innerText.includes('Refund of `+paid+`')`)
	if s := b.text(row + `.innerText`); !strings.Contains(s, "10.00 EUR") {
		t.Fatalf("row after the refund: %q", s)
	}
	b.screenshot(filepath.Join(dir, "3-refunded.png"))
	if st, refunded := apiGet(t, api, paid); st != "captured" || refunded != 1000 {
		t.Fatalf("API after the portal's refund: %s, %d refunded", st, refunded)
	}

	// Capture 30.00 of the pre-authorization.
	row = `document.getElementById(` + jsString(preauth) + `)`
	b.eval(row + `.querySelector('form[action$="/capture"] input[name=amount]').value = "30.00"; ` + row + `.querySelector('form[action$="/capture"] button').click(); true`)
	b.waitFor("the capture's notice", `document.querySelector('[role=status]') && document.querySelector('[role=status]').innerText.includes('Capture of `+preauth+`')`)
	if st, _ := apiGet(t, api, preauth); st != "captured" {
		t.Fatalf("API after the portal's capture: %s", st)
	}

	// The status filter.
	b.navigate("http://" + api + "/portal/?status=authorized")
	b.waitFor("the filtered list", `document.querySelector('select[name=status]').value === 'authorized'`)
	if n := string(b.eval(`document.querySelectorAll('tbody tr').length`)); n != "0" {
		t.Fatalf("%s payments authorized, want none after the capture", n)
	}
	b.navigate("http://" + api + "/portal/?status=captured")
	b.waitFor("the captured ones", `document.querySelectorAll('tbody tr').length === 2`)
	b.screenshot(filepath.Join(dir, "4-filter-captured.png"))
}
