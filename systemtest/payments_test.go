package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/node/adminapi"
)

// The card-not-present test's card: it passes Luhn and acqsim approves it;
// the CVC is one the data directories are searched for afterwards.
const (
	cnpPAN = "4761739001010119"
	cnpCVC = "7319"
	cnpKey = "test-merchant-key"
)

type payment struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	AuthCode       string `json:"auth_code"`
	DeclineCode    string `json:"decline_code"`
	AmountCaptured int64  `json:"amount_captured"`
	AmountRefunded int64  `json:"amount_refunded"`
	Terminal       string `json:"terminal"`
	Card           struct {
		Last4 string `json:"last4"`
		Brand string `json:"brand"`
	} `json:"card"`
	Transactions []struct {
		Type   string `json:"type"`
		Amount int64  `json:"amount"`
		Status string `json:"status"`
		ID     string `json:"id"`
	} `json:"transactions"`
	Error *struct {
		Code  string `json:"code"`
		Param string `json:"param"`
	} `json:"error"`
}

// cnpCall makes one payments API call and decodes the answer.
func cnpCall(t *testing.T, addr, method, path, idem, body string) (int, payment) {
	t.Helper()
	var p payment
	code := api(t, addr, method, path, idem, body, &p)
	return code, p
}

func cnpPayment(amount int64, capture, order string) string {
	return fmt.Sprintf(`{"amount":%d,"currency":"EUR","card":{"number":%q,"expiry":"12/39","cvc":%q},"capture":%q,"order_id":%q}`,
		amount, cnpPAN, cnpCVC, capture, order)
}

// TestPaymentsAPI authorizes, captures in part, refunds twice and voids
// through a standby's API (forwarded to the active), then stops the
// active and retries a payment under its Idempotency-Key: the first
// result comes back and the acquirer saw the payment once. The CVC is in
// no file of the data directories afterwards. The nodes ask no issuer ACS
// while the acquirer checks one's values: a card of its challenge range
// is declined 1A, as a payment that skipped authentication must be.
func TestPaymentsAPI(t *testing.T) {
	dir := t.TempDir()
	acq, cl, leader := startCNPCluster(t, dir, sim.Config{Strict: true, ACS: sim.NewACS(sim.ACSConfig{Ranges: []string{"400000"}})}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := adminapi.NewClient(cl.Configs[leader].AdminAddr).AddMerchant(ctx, cnpMerchant("shop", "Shop"))
	if err != nil || m.Terminal != "W0000001" {
		t.Fatalf("merchant: %+v %v", m, err)
	}
	standby := cl.Configs[(leader+1)%3].APIAddr
	// The merchant's key reaches the standby's state before it forwards:
	// the active authenticates, so nothing to wait for.

	// A pre-auth, captured in part, refunded twice.
	code, p := cnpCall(t, standby, "POST", "/v1/payments", "order-1", cnpPayment(10000, "manual", "order-1"))
	if code != 200 || p.Status != "authorized" || p.AuthCode == "" || p.Card.Last4 != "0119" || p.Card.Brand != "visa" || p.Terminal != m.Terminal {
		t.Fatalf("authorize: %d %+v", code, p)
	}
	if code, p = cnpCall(t, standby, "POST", "/v1/payments/"+p.ID+"/capture", "", `{"amount":6000}`); code != 200 || p.Status != "captured" || p.AmountCaptured != 6000 {
		t.Fatalf("capture: %d %+v", code, p)
	}
	if code, again := cnpCall(t, standby, "POST", "/v1/payments/"+p.ID+"/capture", "", `{"amount":6000}`); code != 200 || again.AmountCaptured != 6000 || len(again.Transactions) != 2 {
		t.Fatalf("the same capture again: %d %+v", code, again)
	}
	if code, e := cnpCall(t, standby, "POST", "/v1/payments/"+p.ID+"/capture", "", `{"amount":5000}`); code != 409 || e.Error.Code != "conflict" {
		t.Fatalf("a second capture: %d %+v", code, e)
	}
	for i, amount := range []int64{2000, 3000} {
		if code, p = cnpCall(t, standby, "POST", "/v1/payments/"+p.ID+"/refunds", fmt.Sprintf("refund-%d", i), fmt.Sprintf(`{"amount":%d}`, amount)); code != 200 {
			t.Fatalf("refund %d: %d %+v", amount, code, p)
		}
	}
	if p.AmountRefunded != 5000 || p.Status != "captured" {
		t.Fatalf("after two refunds: %+v", p)
	}
	if code, e := cnpCall(t, standby, "POST", "/v1/payments/"+p.ID+"/refunds", "refund-3", `{"amount":1001}`); code != 422 || e.Error.Code != "amount_too_large" {
		t.Fatalf("refund over the captured amount: %d %+v", code, e)
	}
	// A pre-auth voided; the void again is the same void; no capture after it.
	code, v := cnpCall(t, standby, "POST", "/v1/payments", "order-2", cnpPayment(2500, "manual", "order-2"))
	if code != 200 || v.Status != "authorized" {
		t.Fatalf("authorize order-2: %d %+v", code, v)
	}
	if code, v = cnpCall(t, standby, "POST", "/v1/payments/"+v.ID+"/void", "", ""); code != 200 || v.Status != "voided" {
		t.Fatalf("void: %d %+v", code, v)
	}
	if code, e := cnpCall(t, standby, "POST", "/v1/payments/"+v.ID+"/capture", "", ""); code != 409 || e.Error.Code != "payment_state" {
		t.Fatalf("capture after void: %d %+v", code, e)
	}
	// The acquirer checks the CVC.
	bad := strings.Replace(cnpPayment(700, "automatic", "order-3"), cnpCVC, sim.CVCWrong, 1)
	if code, d := cnpCall(t, standby, "POST", "/v1/payments", "order-3", bad); code != 200 || d.Status != "declined" || d.DeclineCode != sim.RCCVCFailed {
		t.Fatalf("wrong CVC: %d %+v", code, d)
	}
	// A challenge-range card without the issuer's authentication value.
	skipped := strings.Replace(cnpPayment(800, "manual", "order-5"), cnpPAN, challengePAN, 1)
	if code, d := cnpCall(t, standby, "POST", "/v1/payments", "order-5", skipped); code != 200 || d.Status != "declined" || d.DeclineCode != sim.RCAuthenticationRequired {
		t.Fatalf("unauthenticated challenge-range card: %d %+v", code, d)
	}

	// An automatic payment, the active stopped, the same call again at a
	// node still up.
	code, first := cnpCall(t, standby, "POST", "/v1/payments", "order-4", cnpPayment(4200, "automatic", "order-4"))
	if code != 200 || first.Status != "captured" {
		t.Fatalf("purchase: %d %+v", code, first)
	}
	if err := cl.StopNode(leader); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	var retry payment
	for deadline := time.Now().Add(30 * time.Second); ; {
		// The standby may be the next active or still learning who is:
		// 503 until then, as a client would see it.
		if code, retry = cnpCall(t, standby, "POST", "/v1/payments", "order-4", cnpPayment(4200, "automatic", "order-4")); code != 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 200 || retry.ID != first.ID || retry.Status != "captured" || retry.AuthCode != first.AuthCode || retry.Transactions[0].ID != first.Transactions[0].ID {
		t.Fatalf("retry after failover: %d %+v, first %+v", code, retry, first)
	}
	if code, e := cnpCall(t, standby, "POST", "/v1/payments", "order-4", cnpPayment(4300, "automatic", "order-4")); code != 409 || e.Error.Code != "idempotency_key_reused" || e.Error.Param != "Idempotency-Key" {
		t.Fatalf("same key, other amount: %d %+v", code, e)
	}
	recs, err := acq.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	var purchases, requests int64
	for _, r := range recs {
		if strings.Contains(r.Key, m.Terminal) && r.Kind == sim.KindPurchase && r.Amount == 4200 {
			purchases++
			requests += r.Requests
		}
	}
	if purchases != 1 || requests != 1 {
		t.Fatalf("the acquirer saw order-4 as %d purchases in %d requests, want 1 and 1", purchases, requests)
	}

	// The list, paged by one, filtered by status.
	req, _ := http.NewRequest("GET", "http://"+standby+"/v1/payments?status=captured&limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+cnpKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Data []payment `json:"data"`
		Next string    `json:"next_cursor"`
	}
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if len(page.Data) != 1 || page.Data[0].ID != p.ID || page.Next == "" {
		t.Fatalf("list page 1: %+v", page)
	}

	cl.Close()
	acq.Close()
	assertNoCVC(t, dir, cnpCVC)
}

// assertNoCVC fails if cvc appears in a file under dir: as DE48's TLV, as
// JSON, or as a number of its own (not inside a longer run of digits).
func assertNoCVC(t *testing.T, dir, cvc string) {
	t.Helper()
	alone := regexp.MustCompile(`(^|[^0-9])` + cvc + `($|[^0-9])`)
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte("CV"+fmt.Sprintf("%03d", len(cvc))+cvc)) || alone.Match(b) {
			t.Errorf("the CVC is in %s", path)
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walk %s: %d files, %v", dir, files, err)
	}
}
