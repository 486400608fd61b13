package payments

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/store"
)

// LinkRequest is the body of POST /v1/links.
type LinkRequest struct {
	Amount      *int64    `json:"amount"` // minor units
	Currency    string    `json:"currency"`
	Description string    `json:"description"`
	Customer    *Customer `json:"customer"`
	// ExpiresAt is an RFC 3339 time; absent: in DefaultLinkLifetime.
	ExpiresAt string `json:"expires_at"`
}

// Customer is who a link is for.
type Customer struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// LinkView is the API's payment link.
type LinkView struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Status      string   `json:"status"` // open, paid, expired
	Amount      int64    `json:"amount"`
	Currency    string   `json:"currency"`
	Description string   `json:"description"`
	Customer    Customer `json:"customer"`
	ExpiresAt   string   `json:"expires_at"`
	CreatedAt   string   `json:"created_at"`
	// Payment is the payment that paid it; Attempts every payment made to
	// pay it, oldest first.
	Payment  string   `json:"payment,omitempty"`
	Attempts []string `json:"attempts"`
}

// Link statuses.
const (
	LinkOpen    = "open"
	LinkPaid    = "paid"
	LinkExpired = "expired"
)

// Limits of links.
const (
	DefaultLinkLifetime = 7 * 24 * time.Hour
	maxLinkLifetime     = 365 * 24 * time.Hour
)

// linkID is the id of merchant's link under idempotency key.
func linkID(merchant, key string) string {
	h := sha256.Sum256([]byte("link\x00" + merchant + "\x00" + key))
	return "link_" + hex.EncodeToString(h[:12])
}

// linkToken is a link URL's unguessable part: 192 random bits.
func linkToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// createLink is POST /v1/links: a payment link for a customer. With an
// Idempotency-Key a retry returns the link the first call made.
func (s *Server) createLink(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	const route = "POST /v1/links"
	key, e := idempotencyKey(r)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	var req LinkRequest
	if e := decode(r, &req, false); e != nil {
		s.fail(w, r, route, e)
		return
	}
	now := s.cfg.Clock()
	l, e := req.check(now)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	if key == "" {
		key = randomKey()
	}
	l.ID, l.Merchant, l.Token, l.At = linkID(m.ID, key), m.ID, linkToken(), now.UnixNano()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	res, err := s.cfg.Raft.Apply(ctx, store.LinkCreateCmd(*l))
	lr, ok := res.(store.Result)
	switch {
	case err != nil:
		s.fail(w, r, route, commitErr(err, "link"))
		return
	case !ok:
		s.fail(w, r, route, commitErr(errUnexpected, "link"))
		return
	case lr.Err != nil:
		s.fail(w, r, route, commitErr(lr.Err, "link"))
		return
	}
	if lr.Existed {
		s.metrics.retries.Inc()
	} else {
		s.metrics.links.Inc()
	}
	v, e := s.linkView(r, lr.Link)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// check validates a link request.
func (req *LinkRequest) check(now time.Time) (*store.Link, *apiError) {
	if e := checkAmount(req.Amount, true); e != nil {
		return nil, e
	}
	l := &store.Link{Amount: *req.Amount, Description: req.Description}
	n, ok := currencyCode(req.Currency)
	switch {
	case req.Currency == "":
		return nil, invalid("currency", "currency is required: an ISO 4217 code such as EUR or 978")
	case !ok:
		return nil, apiErr(http.StatusUnprocessableEntity, "currency_unsupported", "currency", "currency %q is not one this API takes (%s)", req.Currency, currencyList())
	case strings.TrimSpace(req.Description) == "":
		return nil, invalid("description", "description is required: it tells the customer what they pay for")
	case len(req.Description) > maxDescription:
		return nil, invalid("description", "description is longer than %d bytes", maxDescription)
	case req.Customer == nil:
		return nil, invalid("customer", "customer is required: {\"name\", \"email\"}")
	case len(req.Customer.Name) > 255 || strings.TrimSpace(req.Customer.Name) == "":
		return nil, invalid("customer.name", "customer.name is required, up to 255 bytes")
	}
	l.Currency = n
	a, err := mail.ParseAddress(req.Customer.Email)
	if err != nil || a.Name != "" || len(req.Customer.Email) > 255 {
		return nil, invalid("customer.email", "customer.email must be an e-mail address (name@example.com), not %q", req.Customer.Email)
	}
	l.CustomerName, l.CustomerEmail = req.Customer.Name, a.Address
	exp := now.Add(DefaultLinkLifetime)
	if req.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		switch {
		case err != nil:
			return nil, invalid("expires_at", "expires_at must be an RFC 3339 time (2025-11-22T12:00:00Z), not %q", req.ExpiresAt)
		case !t.After(now):
			return nil, invalid("expires_at", "expires_at %s is not in the future", req.ExpiresAt)
		case t.Sub(now) > maxLinkLifetime:
			return nil, invalid("expires_at", "expires_at may be at most a year ahead")
		}
		exp = t
	}
	l.ExpiresAt = exp.UnixNano()
	return l, nil
}

// getLink is GET /v1/links/{id}.
func (s *Server) getLink(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	const route = "GET /v1/links/{id}"
	l, err := s.cfg.State.Link(r.PathValue("id"))
	switch {
	case err != nil:
		s.fail(w, r, route, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry"))
		return
	case l == nil || l.Merchant != m.ID:
		s.fail(w, r, route, apiErr(http.StatusNotFound, "not_found", "id", "no link %q", r.PathValue("id")))
		return
	}
	v, e := s.linkView(r, l)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// LinkList is the answer of GET /v1/links.
type LinkList struct {
	Data       []*LinkView `json:"data"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// listLinks is GET /v1/links?limit=&cursor=: the merchant's links, oldest
// first.
func (s *Server) listLinks(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	const route = "GET /v1/links"
	limit, e := limitParam(r)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	links, next, err := s.cfg.State.Links(m.ID, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		s.fail(w, r, route, invalid("cursor", "cursor %q is not one this API returned", r.URL.Query().Get("cursor")))
		return
	}
	out := LinkList{Data: []*LinkView{}, NextCursor: next}
	for _, l := range links {
		v, e := s.linkView(r, l)
		if e != nil {
			s.fail(w, r, route, e)
			return
		}
		out.Data = append(out.Data, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func limitParam(r *http.Request) (int, *apiError) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > maxLimit {
		return 0, invalid("limit", "limit must be 1 to %d", maxLimit)
	}
	return n, nil
}

// linkState is where a link stands: its status, the payment that paid it,
// and its latest attempt as the API shows it (nil before any).
type linkState struct {
	status string
	paidBy *store.Payment
	paid   *PaymentView
	last   *store.Payment
	lastV  *PaymentView
}

func (s *Server) linkState(l *store.Link) (*linkState, *apiError) {
	st := &linkState{status: LinkOpen}
	for _, id := range l.Attempts {
		p, err := s.cfg.State.Payment(id)
		if err != nil || p == nil {
			return nil, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry")
		}
		v, e := s.viewOf(p, nil)
		if e != nil {
			return nil, e
		}
		st.last, st.lastV = p, v
		if paidStatus(v.Status) {
			st.status, st.paidBy, st.paid = LinkPaid, p, v
		}
	}
	if st.status == LinkOpen && !s.cfg.Clock().Before(time.Unix(0, l.ExpiresAt)) {
		st.status = LinkExpired
	}
	return st, nil
}

// paidStatus reports a payment status that means its money was taken.
func paidStatus(s string) bool {
	return s == StatusAuthorized || s == StatusCaptured || s == StatusRefunded
}

func (s *Server) linkView(r *http.Request, l *store.Link) (*LinkView, *apiError) {
	st, e := s.linkState(l)
	if e != nil {
		return nil, e
	}
	v := &LinkView{
		ID: l.ID, URL: baseURL(r) + "/pay/" + l.Token, Status: st.status, Amount: l.Amount, Currency: currencyAlpha(l.Currency),
		Description: l.Description, Customer: Customer{Name: l.CustomerName, Email: l.CustomerEmail},
		ExpiresAt: stamp(l.ExpiresAt), CreatedAt: stamp(l.At), Attempts: append([]string{}, l.Attempts...),
	}
	if st.paidBy != nil {
		v.Payment = st.paidBy.ID
	}
	return v, nil
}

// OutboxMessage is one message of GET /v1/outbox.
type OutboxMessage struct {
	ID        string `json:"id"`
	Seq       uint64 `json:"seq"`
	Kind      string `json:"kind"` // receipt (the customer's), receipt_copy (the merchant's)
	To        string `json:"to,omitempty"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
	Payment   string `json:"payment,omitempty"`
	Link      string `json:"link,omitempty"`
	CreatedAt string `json:"created_at"`
}

// OutboxList is the answer of GET /v1/outbox.
type OutboxList struct {
	Data []OutboxMessage `json:"data"`
	// NextAfter continues the list (after=...); 0 at its end.
	NextAfter uint64 `json:"next_after,omitempty"`
}

// outbox is GET /v1/outbox?after=&limit=: the merchant's messages (the
// receipts of link payments and their copies), oldest first, for a mailer
// to send. Sending is not the cluster's job.
func (s *Server) outbox(w http.ResponseWriter, r *http.Request, m *store.Merchant) {
	const route = "GET /v1/outbox"
	limit, e := limitParam(r)
	if e != nil {
		s.fail(w, r, route, e)
		return
	}
	var after uint64
	if a := r.URL.Query().Get("after"); a != "" {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			s.fail(w, r, route, invalid("after", "after must be the seq of a message (a whole number), not %q", a))
			return
		}
		after = n
	}
	msgs, err := s.cfg.State.Outbox(m.ID, after, limit)
	if err != nil {
		s.fail(w, r, route, apiErr(http.StatusServiceUnavailable, "unavailable", "", "state unreadable: retry"))
		return
	}
	out := OutboxList{Data: []OutboxMessage{}}
	for _, msg := range msgs {
		out.Data = append(out.Data, OutboxMessage{ID: msg.ID, Seq: msg.Seq, Kind: msg.Kind, To: msg.To, Subject: msg.Subject,
			Body: msg.Body, Payment: msg.Payment, Link: msg.Link, CreatedAt: stamp(msg.At)})
	}
	if len(msgs) == limit {
		out.NextAfter = msgs[len(msgs)-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
}

// receipt is the text of p's receipt for link l of merchant m.
func receipt(m *store.Merchant, l *store.Link, p *store.Payment, v *PaymentView) (subject, body string) {
	subject = fmt.Sprintf("Receipt: %s, %s", merchantName(m), money(p.Amount, p.Currency))
	var b strings.Builder
	fmt.Fprintf(&b, "Receipt\n\n")
	fmt.Fprintf(&b, "Merchant:           %s\n", merchantName(m))
	fmt.Fprintf(&b, "Description:        %s\n", l.Description)
	fmt.Fprintf(&b, "Amount:             %s\n", money(p.Amount, p.Currency))
	fmt.Fprintf(&b, "Card:               %s ending %s\n", strings.ToUpper(p.Brand), p.Last4)
	fmt.Fprintf(&b, "Authorization code: %s\n", v.AuthCode)
	fmt.Fprintf(&b, "Payment:            %s\n", p.ID)
	fmt.Fprintf(&b, "Date:               %s\n", time.Unix(0, p.At).UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Paid by:            %s\n", l.CustomerName)
	return subject, b.String()
}

// receipts records p's receipt for the customer and its copy for the
// merchant in the outbox, once: their ids are the payment's.
func (s *Server) receipts(ctx context.Context, m *store.Merchant, l *store.Link, p *store.Payment, v *PaymentView) error {
	id := "msg_" + strings.TrimPrefix(p.ID, "pay_")
	if ok, err := s.cfg.State.OutboxHas(id + "_receipt"); err != nil || ok {
		return err
	}
	subject, body := receipt(m, l, p, v)
	at := s.cfg.Clock().UnixNano()
	res, err := s.cfg.Raft.Apply(ctx, store.OutboxAddCmd(
		store.Message{ID: id + "_receipt", Merchant: m.ID, Kind: "receipt", To: l.CustomerEmail, Subject: subject, Body: body, Payment: p.ID, Link: l.ID, At: at},
		store.Message{ID: id + "_copy", Merchant: m.ID, Kind: "receipt_copy", Subject: "Copy: " + subject,
			Body: fmt.Sprintf("A copy of the receipt sent to %s <%s>.\n\n%s", l.CustomerName, l.CustomerEmail, body), Payment: p.ID, Link: l.ID, At: at},
	))
	if err != nil {
		return fmt.Errorf("payments: receipt of %s: %w", p.ID, err)
	}
	if r, ok := res.(store.Result); ok && r.Err != nil {
		return fmt.Errorf("payments: receipt of %s: %w", p.ID, r.Err)
	}
	return nil
}

func merchantName(m *store.Merchant) string {
	if m.Name != "" {
		return m.Name
	}
	return m.ID
}

// money formats minor units with the currency's alpha code.
func money(amount int64, currency string) string {
	a := currencyAlpha(currency)
	if a == "JPY" {
		return fmt.Sprintf("%d %s", amount, a)
	}
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, a)
}
