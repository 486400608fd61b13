package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPortalLinks: the portal makes a payment link from its form (the
// same form sent twice is one link), shows its URL, lists it open; a
// refused form keeps what was typed; once the customer pays on the link's
// page the portal lists it paid with its payment, and the status filter
// picks links by status.
func TestPortalLinks(t *testing.T) {
	api := portalNode(t)
	base := "http://" + api
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	send := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := send("POST", "/portal/login", url.Values{"key": {portalKey}}); code != 200 {
		t.Fatalf("login: %d", code)
	}
	code, page := send("GET", "/portal/", nil)
	if code != 200 || !strings.Contains(page, "Payment links") || !strings.Contains(page, "No payment links") {
		t.Fatalf("the links section before any link: %d\n%s", code, page)
	}
	field := func(page, name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s field in:\n%s", name, page)
		}
		return m[1]
	}
	expires := time.Now().UTC().AddDate(0, 0, 3).Format(time.DateOnly)
	form := url.Values{"csrf": {field(page, "csrf")}, "idem": {field(page, "idem")}, "amount": {"12.34"}, "currency": {"EUR"},
		"description": {"Invoice 88: a reading lamp"}, "customer_name": {"Sam Lee"}, "customer_email": {"sam@example.com"}, "expires": {expires}}

	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("amount", "12.345")
	if code, page := send("POST", "/portal/links", bad); code != 400 || !strings.Contains(page, "The link was not created") || !strings.Contains(page, `value="Invoice 88: a reading lamp"`) {
		t.Fatalf("a refused form: %d\n%s", code, page)
	}

	code, page = send("POST", "/portal/links", form)
	urlRe := regexp.MustCompile(`id="new-link-url" type="text" readonly value="(` + regexp.QuoteMeta(base) + `/pay/[A-Za-z0-9_-]{32})"`)
	m := urlRe.FindStringSubmatch(page)
	if code != 200 || m == nil || !strings.Contains(page, "Payment link created for 12.34 EUR: send the URL below to Sam Lee (sam@example.com).") {
		t.Fatalf("create: %d\n%s", code, page)
	}
	linkURL := m[1]
	if code, again := send("POST", "/portal/links", form); code != 200 || !strings.Contains(again, linkURL) {
		t.Fatalf("the same form again is the same link: %d", code)
	}
	var links struct {
		Data []struct {
			ID, URL, Status, Description, Payment string
			Amount                                int64
			ExpiresAt                             string `json:"expires_at"`
			Customer                              struct{ Name, Email string }
		}
	}
	req, _ := http.NewRequest("GET", base+"/v1/links", nil)
	req.Header.Set("Authorization", "Bearer "+portalKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&links)
	resp.Body.Close()
	if len(links.Data) != 1 {
		t.Fatalf("the API lists %d links, want 1", len(links.Data))
	}
	l := links.Data[0]
	if l.URL != linkURL || l.Status != "open" || l.Amount != 1234 || l.Description != "Invoice 88: a reading lamp" || l.Customer.Email != "sam@example.com" ||
		l.ExpiresAt != expires+"T23:59:59Z" {
		t.Fatalf("the link as the API sees it: %+v", l)
	}
	_, page = send("GET", "/portal/", nil)
	row := regexp.MustCompile(`(?s)<tr id="` + l.ID + `">.*?</tr>`).FindString(page)
	if !strings.Contains(row, "st-open") || !strings.Contains(row, "12.34 EUR") || !strings.Contains(row, "Sam Lee") || !strings.Contains(row, linkURL) {
		t.Fatalf("the link's row: %q", row)
	}

	// The customer pays on the link's page (no challenge: this node asks
	// no ACS).
	payer := &http.Client{Jar: func() http.CookieJar { j, _ := cookiejar.New(nil); return j }()}
	resp, err = payer.Get(linkURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pay := url.Values{"card_number": {"4761739001010119"}, "expiry": {"12/39"}, "cvc": {"123"}}
	for _, h := range regexp.MustCompile(`name="(csrf|attempt)" value="([0-9a-f]+)"`).FindAllStringSubmatch(string(b), -1) {
		pay.Set(h[1], h[2])
	}
	if resp, err = payer.PostForm(linkURL, pay); err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "Payment received") {
		t.Fatalf("paying the link: %d\n%s", resp.StatusCode, b)
	}
	_, page = send("GET", "/portal/?link_status=paid", nil)
	row = regexp.MustCompile(`(?s)<tr id="` + l.ID + `">.*?</tr>`).FindString(page)
	if !strings.Contains(row, "st-paid") || !regexp.MustCompile(`href="#pay_[0-9a-f]+"`).MatchString(row) {
		t.Fatalf("the paid link's row: %q", row)
	}
	if _, page = send("GET", "/portal/?link_status=open", nil); strings.Contains(page, `<tr id="`+l.ID+`"`) || !strings.Contains(page, "No payment links are open") {
		t.Fatalf("the open filter shows the paid link")
	}
}
