// Package webhooks delivers merchant notifications: the events the
// replicated state queues for every final answer of a card-not-present
// payment's transaction (store/webhook.go). It runs on the active, as one
// of its term's duties: each merchant's events go in order, as a signed
// POST (SignatureHeader) to the merchant's webhook URL, retried with
// backoff until the merchant answers 2xx, and leave the queue only when
// that acknowledgement is committed. A new active starts from the queue
// its predecessor left, so an event is delivered at least once; its id
// (EventIDHeader, "id" in the body) lets the merchant drop a repeat.
package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/store"
)

// State is the replicated queue: store.Store.
type State interface {
	WebhookHeads() ([]*store.WebhookEvent, int, error)
	MerchantWebhook(merchant string) (*store.Webhook, error)
}

// Log commits the acknowledgements: cluster.Cluster.
type Log interface {
	Apply(ctx context.Context, cmd []byte) (any, error)
}

// Config is what a Deliverer is built from. Zero fields get the defaults.
type Config struct {
	// Poll is how often the queue's heads are looked at (default 250 ms):
	// an event waits at most that long for its first attempt.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed attempt: it
	// doubles from MinBackoff (default 1 s) up to MaxBackoff (default 5 min).
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// Client sends the POSTs (default: one that follows no redirect: a 3xx
	// is a failed attempt, the merchant fixes its URL).
	Client *http.Client
	// Currency names a payment's ISO 4217 numeric currency as the API
	// does (default: the numeric code).
	Currency func(numeric string) string
	Clock    func() time.Time

	State      State
	Raft       Log
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Deliverer sends the queue on the active.
type Deliverer struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
}

// New builds a Deliverer and registers its metrics.
func New(cfg Config) *Deliverer {
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Minute, cfg.MinBackoff)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Currency == nil {
		cfg.Currency = func(n string) string { return n }
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Deliverer{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Registerer, cfg.State)}
}

// merchantState is where one merchant's deliveries stand in this term.
type merchantState struct {
	busy     bool
	failures int
	due      time.Time
}

// Run delivers until ctx ends (the term does): a takeover.Duty.
func (d *Deliverer) Run(ctx context.Context) {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		per = map[string]*merchantState{}
	)
	defer wg.Wait()
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		heads, _, err := d.cfg.State.WebhookHeads()
		if err != nil {
			d.log.Error("webhooks: queue unreadable", "err", err)
		}
		now := d.cfg.Clock()
		mu.Lock()
		for _, e := range heads {
			st := per[e.Merchant]
			if st == nil {
				st = &merchantState{}
				per[e.Merchant] = st
			}
			if st.busy || now.Before(st.due) {
				continue
			}
			st.busy = true
			wg.Go(func() {
				ok := d.deliver(ctx, e)
				mu.Lock()
				defer mu.Unlock()
				st.busy = false
				if ok {
					st.failures, st.due = 0, time.Time{}
					return
				}
				st.failures++
				st.due = d.cfg.Clock().Add(d.backoff(st.failures))
			})
		}
		mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// backoff is the wait after the n-th failure in a row.
func (d *Deliverer) backoff(n int) time.Duration {
	b := d.cfg.MinBackoff
	for i := 1; i < n && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.cfg.MaxBackoff)
}

// Event is the body of a delivery.
type Event struct {
	ID          string      `json:"id"`
	Type        string      `json:"type"`
	CreatedAt   string      `json:"created_at"` // when the answer was recorded
	PaymentID   string      `json:"payment_id"`
	OrderID     string      `json:"order_id,omitempty"`
	Transaction Transaction `json:"transaction"`
}

// Transaction is the transaction whose answer an Event reports.
type Transaction struct {
	Type     string `json:"type"` // authorization, capture, void, refund
	ID       string `json:"id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Status   string `json:"status"` // approved, declined, reversed
	RC       string `json:"response_code,omitempty"`
	AuthCode string `json:"auth_code,omitempty"`
}

// Body is the JSON a delivery of e carries.
func (d *Deliverer) Body(e *store.WebhookEvent) ([]byte, error) {
	st := "declined"
	switch e.Status {
	case store.StatusApproved:
		st = "approved"
	case store.StatusReversed:
		st = "reversed"
	}
	return json.Marshal(Event{
		ID: e.ID(), Type: e.Type, CreatedAt: time.Unix(0, e.At).UTC().Format(time.RFC3339Nano), PaymentID: e.Payment, OrderID: e.OrderID,
		Transaction: Transaction{Type: e.Step.String(), ID: e.TxnID, Amount: e.Amount, Currency: d.cfg.Currency(e.Currency), Status: st, RC: e.RC, AuthCode: e.AuthCode},
	})
}

// deliver makes one attempt at e and, on a 2xx, commits its
// acknowledgement. It reports whether the event left the queue.
func (d *Deliverer) deliver(ctx context.Context, e *store.WebhookEvent) bool {
	log := d.log.With("merchant", e.Merchant, "event", e.ID(), "type", e.Type)
	err := d.post(ctx, e)
	if err == nil {
		_, err = d.cfg.Raft.Apply(ctx, store.WebhookAckCmd(store.WebhookAck{Merchant: e.Merchant, Seq: e.Seq, At: d.cfg.Clock().UnixNano()}))
		if err != nil {
			// The merchant has it; the next attempt (here or on the next
			// active) repeats it under the same id.
			err = &failure{reason: "ack", err: fmt.Errorf("webhooks: commit the ack of %s: %w", e.ID(), err)}
		}
	}
	if err != nil {
		reason := "transport"
		var f *failure
		if errors.As(err, &f) {
			reason = f.reason
		}
		d.metrics.deliveries.WithLabelValues("failed").Inc()
		d.metrics.failures.WithLabelValues(reason).Inc()
		if ctx.Err() == nil {
			log.Warn("webhook delivery failed: retrying with backoff", "reason", reason, "err", err)
		}
		return false
	}
	d.metrics.deliveries.WithLabelValues("delivered").Inc()
	log.Info("webhook delivered")
	return true
}

type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// post sends e to its merchant's webhook; nil on a 2xx.
func (d *Deliverer) post(ctx context.Context, e *store.WebhookEvent) error {
	h, err := d.cfg.State.MerchantWebhook(e.Merchant)
	switch {
	case err != nil:
		return err
	case h == nil:
		// Removed after this scan read the queue: removal drops the queue.
		return fmt.Errorf("webhooks: merchant %s has no webhook", e.Merchant)
	}
	body, err := d.Body(e)
	if err != nil {
		return fmt.Errorf("webhooks: body of %s: %w", e.ID(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhooks: request to %s: %w", h.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tillgate-webhooks/1")
	req.Header.Set(SignatureHeader, Sign(h.Secret, d.cfg.Clock(), body))
	req.Header.Set(EventIDHeader, e.ID())
	req.Header.Set(EventTypeHeader, e.Type)
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhooks: POST %s: %w", h.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &failure{reason: "status", err: fmt.Errorf("webhooks: POST %s answered %s: %s", h.URL, resp.Status, strings.TrimSpace(string(snippet)))}
	}
	return nil
}
