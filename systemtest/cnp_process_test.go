package systemtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node/adminapi"
)

// TestProcessCNPFailover is issue 15's failover in real processes: a
// pre-authorization through the active's payments API, the active
// SIGKILLed before its capture, the capture through a survivor, then the
// authorization's call again with the same Idempotency-Key. Nothing is
// lost and nothing is charged twice: the retry returns the payment the
// killed active recorded, now captured, and acqsim's ledger holds one
// authorization and one completion of it.
func TestProcessCNPFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	apiAddrs, err := localcluster.FreePortsIn(10000, 20000, 3)
	if err != nil {
		t.Fatal(err)
	}
	p := startProcClusterWith(t, func(cfg map[string]any) {
		for i, id := range []string{"node1", "node2", "node3"} {
			if cfg["id"] == id {
				cfg["api_addr"] = apiAddrs[i]
			}
			// The peers' API addresses: where a standby forwards.
			cfg["peers"].([]map[string]string)[i]["api_addr"] = apiAddrs[i]
		}
	})
	active := p.leader(60 * time.Second)
	var m adminapi.Merchant
	for deadline := time.Now().Add(time.Minute); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err = adminapi.NewClient(p.admin[active]).AddMerchant(ctx, cnpMerchant("shop", "Shop"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("merchant: %v", err)
		}
		active = p.leader(60 * time.Second) // an election since: ask the new active
	}

	const order = "proc-order-1"
	body := cnpPayment(6100, "manual", order)
	code, auth := cnpRetry(t, apiAddrs[active], "POST", "/v1/payments", order, body)
	if code != 200 || auth.Status != "authorized" || auth.AuthCode == "" {
		t.Fatalf("authorize at the active: %d %+v", code, auth)
	}

	p.kill(active)
	next := p.leader(60 * time.Second)
	survivor := apiAddrs[(active+1)%3]
	if (active+1)%3 == next {
		survivor = apiAddrs[(active+2)%3] // a standby: it forwards to the new active
	}
	code, captured := cnpRetry(t, survivor, "POST", "/v1/payments/"+auth.ID+"/capture", "", `{"amount":6100}`)
	if code != 200 || captured.Status != "captured" || captured.AmountCaptured != 6100 {
		t.Fatalf("capture through a survivor after the kill: %d %+v", code, captured)
	}
	code, again := cnpRetry(t, survivor, "POST", "/v1/payments", order, body)
	if code != 200 || again.ID != auth.ID || again.AuthCode != auth.AuthCode || again.Status != "captured" || len(again.Transactions) != 2 ||
		again.Transactions[0].ID != auth.Transactions[0].ID {
		t.Fatalf("the authorization retried with its Idempotency-Key: %d %+v, first %+v", code, again, auth)
	}

	resp, err := http.Get("http://" + p.acqAdmin + "/ledger")
	if err != nil {
		t.Fatal(err)
	}
	var ledger struct {
		Records []sim.LedgerRecord `json:"records"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ledger)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var auths, completions []sim.LedgerRecord
	for _, r := range ledger.Records {
		if !strings.Contains(r.Key, m.Terminal) {
			continue
		}
		switch r.Kind {
		case sim.KindPreAuth:
			auths = append(auths, r)
		case sim.KindCompletion:
			completions = append(completions, r)
		default:
			t.Errorf("acqsim booked a %s of the merchant: %+v", r.Kind, r)
		}
	}
	if len(auths) != 1 || len(completions) != 1 || auths[0].Amount != 6100 || auths[0].RC != "00" || completions[0].Amount != 6100 ||
		completions[0].Original != auths[0].Key || completions[0].RC != "00" {
		t.Fatalf("acqsim's ledger of the merchant: authorizations %+v, completions %+v; want one of each, 6100", auths, completions)
	}
}
