package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/url"

	bolt "go.etcd.io/bbolt"
)

// Merchant notification (node/webhooks). A merchant may have a webhook: a
// URL and the secret its calls are signed with. Every time one of its
// payments' transactions reaches a final answer (approved, declined,
// reversed), Apply enqueues an event for the merchant in the same bbolt
// transaction that records the answer, exactly as the SAF queue is fed,
// so every replica holds the same queue and no answer can be recorded
// without its event. The active delivers the queue, one merchant's events
// in order, and removes an event only when the merchant's 2xx is committed
// (OpWebhookAck): a new active carries on, and an event may reach the
// merchant more than once (its id is how the merchant drops a repeat).

// Webhook ops.
const (
	// OpMerchantWebhook sets (or, with an empty URL, removes) a
	// merchant's webhook.
	OpMerchantWebhook Op = 27
	// OpWebhookAck removes an event the merchant acknowledged.
	OpWebhookAck Op = 28
)

// Webhook is a merchant's notification endpoint.
type Webhook struct {
	Merchant string
	URL      string // http or https; "" removes the webhook
	Secret   string // the HMAC-SHA256 key of the signatures
	At       int64
}

// WebhookEvent is one notification owed to a merchant.
type WebhookEvent struct {
	Merchant string
	Seq      uint64 // per merchant, from 1, given by Apply
	Type     string // payment.authorized, payment.captured, ... (EventType)
	Payment  string
	OrderID  string
	Currency string // ISO 4217 numeric
	// The transaction whose answer it reports.
	Step     StepKind
	TxnID    string
	Amount   int64
	Status   Status
	RC       string
	AuthCode string
	At       int64 // the answer's time (unix nanos, the leader's)
}

// ID is the event's id, the same on every delivery: what a merchant
// drops a repeat by.
func (e *WebhookEvent) ID() string { return fmt.Sprintf("evt_%s_%d", e.Merchant, e.Seq) }

// WebhookAck is the merchant's acknowledgement of event Seq.
type WebhookAck struct {
	Merchant string
	Seq      uint64
	At       int64
}

// Limits of a webhook.
const (
	maxWebhookURL    = 2048
	maxWebhookSecret = 256
)

// MerchantWebhookCmd encodes OpMerchantWebhook.
func MerchantWebhookCmd(h Webhook) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpMerchantWebhook)}}
	appendWebhook(&w, &h)
	return w.b
}

// WebhookAckCmd encodes OpWebhookAck. Acknowledging an event that is gone
// changes nothing.
func WebhookAckCmd(a WebhookAck) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpWebhookAck)}}
	w.str(a.Merchant)
	w.int(int64(a.Seq))
	w.int(a.At)
	return w.b
}

func appendWebhook(w *writer, h *Webhook) {
	w.str(h.Merchant)
	w.str(h.URL)
	w.str(h.Secret)
	w.int(h.At)
}

func readWebhook(r *reader) *Webhook {
	return &Webhook{Merchant: r.str(), URL: r.str(), Secret: r.str(), At: r.int()}
}

func readWebhookAck(r *reader) *WebhookAck {
	a := &WebhookAck{Merchant: r.str()}
	a.Seq, a.At = uint64(r.int()), r.int()
	return a
}

const webhookEventVersion = 1

func appendWebhookEvent(e *WebhookEvent) []byte {
	w := writer{}
	w.byte(webhookEventVersion)
	for _, s := range []string{e.Merchant, e.Type, e.Payment, e.OrderID, e.Currency} {
		w.str(s)
	}
	w.int(int64(e.Seq))
	w.byte(byte(e.Step))
	w.str(e.TxnID)
	w.int(e.Amount)
	w.byte(byte(e.Status))
	w.str(e.RC)
	w.str(e.AuthCode)
	w.int(e.At)
	return w.b
}

func decodeWebhookEvent(b []byte) (*WebhookEvent, error) {
	r := reader{b: b}
	if v := r.byte(); v != webhookEventVersion && r.err == nil {
		r.failf("webhook event version %d", v)
	}
	e := &WebhookEvent{Merchant: r.str(), Type: r.str(), Payment: r.str(), OrderID: r.str(), Currency: r.str()}
	e.Seq, e.Step, e.TxnID, e.Amount = uint64(r.int()), StepKind(r.byte()), r.str(), r.int()
	e.Status, e.RC, e.AuthCode, e.At = Status(r.byte()), r.str(), r.str(), r.int()
	return e, r.done()
}

// ValidWebhookURL says what is wrong with u as a webhook URL ("" for
// nothing).
func ValidWebhookURL(u string) string {
	p, err := url.Parse(u)
	switch {
	case len(u) > maxWebhookURL:
		return fmt.Sprintf("a URL up to %d bytes", maxWebhookURL)
	case err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil || p.Fragment != "":
		return "an absolute http:// or https:// URL without user info or fragment"
	}
	return ""
}

// merchantWebhook sets or removes a merchant's webhook. Removing it drops
// the merchant's queued events: nobody is left to deliver them to.
func (a *applier) merchantWebhook(h *Webhook) (Result, error) {
	m, err := getMerchant(a.tx, h.Merchant)
	if err != nil {
		return Result{}, err
	}
	switch {
	case m == nil:
		return Result{Err: fmt.Errorf("%w: merchant %q", ErrNotFound, h.Merchant)}, nil
	case h.URL != "" && ValidWebhookURL(h.URL) != "":
		return Result{Err: fmt.Errorf("%w: webhook of %s: want %s", ErrInvalid, h.Merchant, ValidWebhookURL(h.URL))}, nil
	case h.URL != "" && (len(h.Secret) < 16 || len(h.Secret) > maxWebhookSecret):
		return Result{Err: fmt.Errorf("%w: webhook of %s: a secret of 16 to %d bytes", ErrInvalid, h.Merchant, maxWebhookSecret)}, nil
	}
	b := a.tx.Bucket(bucketWebhooks)
	if h.URL == "" {
		if err := b.Delete([]byte(h.Merchant)); err != nil {
			return Result{}, err
		}
		return Result{Webhook: h}, a.dropEvents(h.Merchant)
	}
	w := writer{}
	appendWebhook(&w, h)
	return Result{Webhook: h}, b.Put([]byte(h.Merchant), w.b)
}

func (a *applier) dropEvents(merchant string) error {
	q := a.tx.Bucket(bucketWebhookQ)
	prefix := joinKey(merchant, "")
	var keys [][]byte
	c := q.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := q.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func webhookKey(merchant string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(joinKey(merchant, ""), seq)
}

// webhookAck removes an acknowledged event.
func (a *applier) webhookAck(ack *WebhookAck) (Result, error) {
	if !ValidMerchantID(ack.Merchant) {
		return Result{Err: fmt.Errorf("%w: webhook ack for merchant %q", ErrInvalid, ack.Merchant)}, nil
	}
	return Result{}, a.tx.Bucket(bucketWebhookQ).Delete(webhookKey(ack.Merchant, ack.Seq))
}

// paymentAnswered enqueues the event of t's final answer, if t is a
// payment's transaction and its merchant has a webhook. Called by update
// when a transaction leaves the open statuses: each transaction does that
// once, so a payment's every change is one event.
func (a *applier) paymentAnswered(t *Txn) error {
	pid := a.tx.Bucket(bucketPaymentTxn).Get([]byte(t.ID))
	if pid == nil {
		return nil
	}
	p, err := getPayment(a.tx, string(pid))
	if err != nil || p == nil {
		return err
	}
	if a.tx.Bucket(bucketWebhooks).Get([]byte(p.Merchant)) == nil {
		return nil
	}
	var step *PaymentStep
	for _, s := range p.Steps {
		if s.TxnID == t.ID {
			step = s
		}
	}
	if step == nil {
		return fmt.Errorf("%w: payment %s lacks the transaction %s its index names", ErrCorrupt, p.ID, t.ID)
	}
	n, err := a.next(bucketCNPSeq, []byte("event|"+p.Merchant))
	if err != nil {
		return err
	}
	e := &WebhookEvent{
		Merchant: p.Merchant, Seq: n, Type: EventType(p, step.Kind, t.Status), Payment: p.ID, OrderID: p.OrderID, Currency: p.Currency,
		Step: step.Kind, TxnID: t.ID, Amount: step.Amount, Status: t.Status, RC: t.RC, AuthCode: t.AuthCode, At: t.UpdatedAt,
	}
	return a.tx.Bucket(bucketWebhookQ).Put(webhookKey(p.Merchant, n), appendWebhookEvent(e))
}

// EventType names what a step's final answer did to its payment:
// payment.authorized (a manual capture's pre-auth), payment.captured (an
// automatic payment's authorization, or a capture), payment.declined,
// payment.voided, payment.refunded (one refund, in part or all), and
// payment.capture_failed, payment.void_failed, payment.refund_failed.
func EventType(p *Payment, k StepKind, st Status) string {
	ok := st == StatusApproved
	switch {
	case k == StepAuth && ok && p.Manual:
		return "payment.authorized"
	case k == StepAuth && ok, k == StepCapture && ok:
		return "payment.captured"
	case k == StepAuth:
		return "payment.declined"
	case k == StepVoid && ok:
		return "payment.voided"
	case k == StepRefund && ok:
		return "payment.refunded"
	}
	return "payment." + k.String() + "_failed"
}

// MerchantWebhook returns merchant's webhook (nil if it has none).
func (s *Store) MerchantWebhook(merchant string) (*Webhook, error) {
	var h *Webhook
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketWebhooks).Get([]byte(merchant))
		if v == nil {
			return nil
		}
		r := reader{b: v}
		h = readWebhook(&r)
		return r.done()
	})
	if err != nil {
		return nil, fmt.Errorf("store: webhook of %s: %w", merchant, err)
	}
	return h, nil
}

// WebhookHeads returns the first queued event of every merchant that has
// one, and how many events are queued in all.
func (s *Store) WebhookHeads() ([]*WebhookEvent, int, error) {
	var heads []*WebhookEvent
	var depth int
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWebhookQ)
		depth = b.Stats().KeyN
		c := b.Cursor()
		for k, v := c.First(); k != nil; {
			e, err := decodeWebhookEvent(v)
			if err != nil {
				return fmt.Errorf("webhook event %x: %w", k, err)
			}
			heads = append(heads, e)
			// Skip the rest of this merchant's events: its key prefix
			// with the largest seq.
			k, v = c.Seek(webhookKey(e.Merchant, ^uint64(0)))
			if k != nil && bytes.Equal(k, webhookKey(e.Merchant, ^uint64(0))) {
				k, v = c.Next()
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: webhook queue: %w", err)
	}
	return heads, depth, nil
}

// WebhookEvents lists up to limit of merchant's queued events, oldest
// first.
func (s *Store) WebhookEvents(merchant string, limit int) ([]*WebhookEvent, error) {
	var out []*WebhookEvent
	err := s.view(func(tx *bolt.Tx) error {
		prefix := joinKey(merchant, "")
		c := tx.Bucket(bucketWebhookQ).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			e, err := decodeWebhookEvent(v)
			if err != nil {
				return fmt.Errorf("webhook event %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: webhook events of %s: %w", merchant, err)
	}
	return out, nil
}
