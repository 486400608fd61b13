package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/store"
)

// queue is the replicated queue in memory: acks committed through Apply.
type queue struct {
	mu     sync.Mutex
	events []*store.WebhookEvent
	hook   *store.Webhook
	acks   int
}

func (q *queue) WebhookHeads() ([]*store.WebhookEvent, int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.events) == 0 {
		return nil, 0, nil
	}
	return q.events[:1], len(q.events), nil
}

func (q *queue) MerchantWebhook(string) (*store.Webhook, error) { return q.hook, nil }

func (q *queue) Apply(_ context.Context, cmd []byte) (any, error) {
	c, err := store.DecodeCommand(cmd)
	if err != nil || c.Op != store.OpWebhookAck {
		panic("not an ack")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.acks++
	if len(q.events) > 0 && q.events[0].Seq == c.WebhookAck.Seq {
		q.events = q.events[1:]
	}
	return store.Result{}, nil
}

func (q *queue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.events)
}

// TestDeliverRetriesUntil2xx: the receiver fails twice, then takes the
// events; each attempt is signed, events go in order, each leaves the
// queue once acknowledged, and the failures are counted.
func TestDeliverRetriesUntil2xx(t *testing.T) {
	const secret = "whsec_0123456789abcdef"
	var mu sync.Mutex
	var got []string
	calls := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify(secret, r.Header.Get(SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		var e Event
		if err := json.Unmarshal(body, &e); err != nil || e.ID != r.Header.Get(EventIDHeader) {
			t.Errorf("body %s: %v", body, err)
		}
		got = append(got, e.ID+" "+e.Type+" "+e.Transaction.Currency)
	}))
	defer recv.Close()
	q := &queue{hook: &store.Webhook{Merchant: "shop", URL: recv.URL + "/hook", Secret: secret}}
	for i, typ := range []string{"payment.authorized", "payment.captured"} {
		q.events = append(q.events, &store.WebhookEvent{Merchant: "shop", Seq: uint64(i + 1), Type: typ, Payment: "pay_1", Currency: "978", Status: store.StatusApproved, Step: store.StepAuth})
	}
	reg := prometheus.NewRegistry()
	d := New(Config{Poll: 5 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Currency: func(string) string { return "EUR" }, State: q, Raft: q, Registerer: reg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for q.depth() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "evt_shop_1 payment.authorized EUR,evt_shop_2 payment.captured EUR" || calls != 4 {
		t.Fatalf("delivered %q in %d calls", got, calls)
	}
	if f := counter(t, reg, "tillgate_webhook_failures_total", "status"); f != 2 {
		t.Fatalf("status failures %v, want 2", f)
	}
	if n := counter(t, reg, "tillgate_webhook_deliveries_total", "delivered"); n != 2 {
		t.Fatalf("delivered %v, want 2", n)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_764_770_000, 0)
	body := []byte(`{"id":"evt_shop_1"}`)
	h := Sign("secret-secret-secret", now, body)
	if !strings.HasPrefix(h, "t=1764770000,v1=") {
		t.Fatalf("header %q", h)
	}
	if err := Verify("secret-secret-secret", h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other body":   Verify("secret-secret-secret", h, []byte(`{"id":"evt_shop_2"}`), now, time.Minute),
		"other secret": Verify("another-secret-xx", h, body, now, time.Minute),
		"too old":      Verify("secret-secret-secret", h, body, now.Add(time.Hour), time.Minute),
		"garbage":      Verify("secret-secret-secret", "v1=abc", body, now, time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestBackoff(t *testing.T) {
	d := New(Config{MinBackoff: time.Second, MaxBackoff: 10 * time.Second, State: &queue{}})
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, d.backoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", got, want)
		}
	}
}

// counter is the value of the series of name whose one label is label.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}
