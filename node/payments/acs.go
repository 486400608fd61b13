package payments

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tillgate/tillgate/store"
)

// The issuer's access control server (3-D Secure's ACS; acqsim serves one):
// asked before a payment is recorded whether the cardholder must pass a
// challenge, and told the code the cardholder typed on the challenge page.
// Its API is acquirer/sim's ACS (POST /acs/v1/authentications, POST
// /acs/v1/authentications/{id}/challenge); its types are repeated here
// because the node does not import the simulator.

// acsAnswer is the ACS's answer.
type acsAnswer struct {
	ID           string `json:"id"`
	Status       string `json:"status"` // frictionless, challenge, authenticated, retry, failed
	AttemptsLeft int    `json:"attempts_left"`
	Reason       string `json:"reason"`
}

type acsClient struct {
	base string
	http *http.Client
}

func (c *acsClient) post(ctx context.Context, path string, body any) (*acsAnswer, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("payments: acs %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("payments: acs %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<14))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("payments: acs %s: %s: %s", path, resp.Status, strings.TrimSpace(string(raw)))
	}
	var a acsAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("payments: acs %s: answer: %w", path, err)
	}
	return &a, nil
}

// authentication asks the ACS about the card of c: nothing to record
// without an ACS; not required (frictionless); or pending a challenge,
// with the challenge page's token.
func (s *Server) authentication(ctx context.Context, m *store.Merchant, c *checkedPayment) (store.PaymentAuth, *apiError) {
	if s.acs == nil {
		return store.PaymentAuth{}, nil
	}
	a, err := s.acs.post(ctx, "/acs/v1/authentications", map[string]any{
		"pan": c.pan, "amount": c.amount, "currency": currencyAlpha(c.currency), "merchant": m.Name,
	})
	if err != nil {
		s.log.Warn("payments: issuer ACS unavailable", "merchant", m.ID, "err", err)
		return store.PaymentAuth{}, apiErr(http.StatusServiceUnavailable, "authentication_unavailable", "",
			"the card issuer's authentication service did not answer: retry with the same Idempotency-Key")
	}
	now := s.cfg.Clock().UnixNano()
	switch a.Status {
	case "frictionless":
		return store.PaymentAuth{Status: store.AuthNotRequired, ACSID: a.ID, At: now}, nil
	case "challenge":
		return store.PaymentAuth{Status: store.AuthPending, ACSID: a.ID, Token: randomToken(), At: now}, nil
	}
	s.log.Warn("payments: issuer ACS answered an unknown status", "status", a.Status)
	return store.PaymentAuth{}, apiErr(http.StatusServiceUnavailable, "authentication_unavailable", "",
		"the card issuer's authentication service answered %q: retry with the same Idempotency-Key", a.Status)
}

// randomToken is an unguessable URL token (128 bits).
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// heldCard is the card of a payment waiting for its challenge: what the
// authorization needs once the cardholder passes it.
type heldCard struct {
	pan, expiry, cvc string
	until            time.Time
}

// cardHold keeps the card data of payments waiting for a challenge in this
// node's memory only, never in the log, the state or a log line: the CVC
// must not be stored in any form. An entry lives until its authorization
// is sent or cardHoldTTL passes. A node that stops being the active (or
// restarts) loses them: the customer enters the card again (the link's
// page asks for it; an API client retries its call with the same
// Idempotency-Key and the card), and the challenge already passed counts.
type cardHold struct {
	mu    sync.Mutex
	cards map[string]heldCard
}

// cardHoldTTL bounds how long a card waits for its challenge: the ACS's
// challenge lifetime, with a margin.
const cardHoldTTL = 15 * time.Minute

func (h *cardHold) put(id string, c heldCard) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for k, v := range h.cards {
		if now.After(v.until) {
			delete(h.cards, k)
		}
	}
	c.until = now.Add(cardHoldTTL)
	h.cards[id] = c
}

func (h *cardHold) get(id string) (heldCard, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.cards[id]
	if ok && time.Now().After(c.until) {
		delete(h.cards, id)
		return heldCard{}, false
	}
	return c, ok
}

func (h *cardHold) drop(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.cards, id)
}

// clear forgets every card: this node is no longer the active.
func (h *cardHold) clear() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.cards)
}
