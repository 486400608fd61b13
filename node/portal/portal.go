// Package portal is the merchant portal: server-rendered pages at /portal/
// on the payments API's listener, no external assets, no JavaScript. A
// merchant logs in with its API key (a session cookie follows: HttpOnly,
// SameSite=Strict, a CSRF token in every form), sees every payment with
// its status (filters: status, dates), and captures a pre-authorization,
// voids it, or refunds an amount; it lists the payment links (open, paid,
// expired) and makes new ones. Everything it shows or does goes through
// the payments API's own routes, called in process as the logged-in
// merchant (payments.AsMerchant): the portal holds no payment logic.
package portal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/node/payments"
	"github.com/tillgate/tillgate/store"
)

// Merchants finds the merchant of a key or a session: store.Store.
type Merchants interface {
	Merchant(id string) (*store.Merchant, error)
	MerchantByKey(hash []byte) (*store.Merchant, string, error)
}

// Keyer MACs sessions and CSRF tokens with a key every node shares:
// store.Vault's keyed hash.
type Keyer interface {
	Hash(s string) []byte
}

// Config is what a Portal is built from.
type Config struct {
	Merchants Merchants
	Keyer     Keyer
	// Secure marks the session cookie Secure: the API is served over HTTPS.
	Secure     bool
	Clock      func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Portal serves the merchant portal.
type Portal struct {
	cfg    Config
	api    http.Handler
	log    *slog.Logger
	logins *prometheus.CounterVec
}

// New builds the portal over api, the payments API's routes.
func New(cfg Config, api http.Handler) *Portal {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Portal{cfg: cfg, api: api, log: cfg.Logger,
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_portal_logins_total", Help: "Merchant portal logins, by result (ok, refused).",
		}, []string{"result"})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(p.logins)
	}
	return p
}

// Register adds the portal's routes to mux.
func (p *Portal) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/portal/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /portal/{$}", p.index)
	mux.HandleFunc("POST /portal/login", p.login)
	mux.HandleFunc("POST /portal/logout", p.logout)
	mux.HandleFunc("POST /portal/payments/{id}/{action}", p.act)
	mux.HandleFunc("POST /portal/links", p.createLink)
}

// page is what the template renders.
type page struct {
	Merchant *store.Merchant
	CSRF     string
	Error    string // shown above everything
	Notice   string
	// The orders list and its filters.
	Payments               []row
	Status, From, To       string
	Statuses               []string
	Next                   string // the query of the next page ("" at the end)
	LoginHint, LoginFailed bool
	// The payment links (links.go): the list, its filter, the new link
	// form, and the link just created.
	Links        []linkRow
	LinkStatus   string
	LinkStatuses []string
	LinksMore    int  // links past the shown ones
	LinksPartial bool // more links than the portal reads
	LinksRead    int
	LinkForm     *linkForm
	Created      *linkRow
}

// row is one payment in the list, with the forms it offers.
type row struct {
	*payments.PaymentView
	Created                        string
	Amount, Captured, Refunded     string
	Capturable, Refundable         string // the whole authorization, what is left to refund: as typed
	CanCapture, CanVoid, CanRefund bool
	Idem                           string // the Idempotency-Key of its forms: a resubmission is the same call
}

func (p *Portal) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (p *Portal) render(w http.ResponseWriter, code int, pg *page) {
	p.headers(w)
	var b bytes.Buffer
	if err := tmpl.Execute(&b, pg); err != nil {
		p.log.Error("portal: render", "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// merchant is the session's merchant, nil when r has no valid session.
func (p *Portal) merchant(r *http.Request) (*store.Merchant, *session) {
	s, _ := p.session(r)
	if s == nil {
		return nil, nil
	}
	m, err := p.cfg.Merchants.Merchant(s.merchant)
	if err != nil || m == nil {
		return nil, nil
	}
	for _, k := range m.Keys {
		if k.Name == s.key {
			return m, s
		}
	}
	return nil, nil // the key was removed: its sessions end
}

// formPost checks a form that changes something: a live session, posted
// from the portal's own origin, with the session's CSRF token. When it
// fails it has answered (the login page, or the orders with why) and ok is
// false.
func (p *Portal) formPost(w http.ResponseWriter, r *http.Request) (m *store.Merchant, s *session, ok bool) {
	m, s = p.merchant(r)
	if m == nil {
		p.render(w, http.StatusUnauthorized, &page{LoginHint: true, Error: "your session ended: log in again"})
		return nil, nil, false
	}
	if !sameOrigin(r) {
		p.orders(w, r, m, s, http.StatusForbidden, "", "the form came from another site: nothing was done")
		return nil, nil, false
	}
	if err := p.checkCSRF(r, s); err != nil {
		p.orders(w, r, m, s, http.StatusForbidden, "", err.Error())
		return nil, nil, false
	}
	return m, s, true
}

// index is the orders page, or the login page without a session.
func (p *Portal) index(w http.ResponseWriter, r *http.Request) {
	m, s := p.merchant(r)
	if m == nil {
		p.render(w, http.StatusOK, &page{LoginHint: true})
		return
	}
	p.orders(w, r, m, s, http.StatusOK, "", "")
}

// orders renders the merchant's payments as the API lists them.
func (p *Portal) orders(w http.ResponseWriter, r *http.Request, m *store.Merchant, s *session, code int, notice, problem string) {
	p.ordersPage(w, r, m, code, &page{Merchant: m, CSRF: p.csrf(s), Notice: notice, Error: problem})
}

// ordersPage renders pg (its merchant, CSRF token, messages and link form
// set) with the payments and the links.
func (p *Portal) ordersPage(w http.ResponseWriter, r *http.Request, m *store.Merchant, code int, pg *page) {
	q := r.URL.Query()
	pg.Status, pg.From, pg.To = q.Get("status"), q.Get("from"), q.Get("to")
	pg.Statuses = []string{payments.StatusPending, payments.StatusAuthorized, payments.StatusCaptured, payments.StatusDeclined, payments.StatusVoided, payments.StatusRefunded}
	api := url.Values{"limit": {"50"}}
	for _, k := range []string{"status", "from", "to", "cursor"} {
		if v := q.Get(k); v != "" {
			api.Set(k, v)
		}
	}
	if pg.To != "" && len(pg.To) == len(time.DateOnly) {
		// A date "to" includes that day.
		if d, err := time.Parse(time.DateOnly, pg.To); err == nil {
			api.Set("to", d.AddDate(0, 0, 1).Format(time.DateOnly))
		}
	}
	var list payments.PaymentList
	if code, e := p.call(r, m, http.MethodGet, "/v1/payments?"+api.Encode(), "", nil, &list); e != "" {
		pg.Error = strings.TrimSpace(pg.Error + " " + e)
		_ = code
	}
	for _, v := range list.Data {
		pg.Payments = append(pg.Payments, p.row(v))
	}
	if list.NextCursor != "" {
		next := url.Values{}
		for _, k := range []string{"status", "from", "to"} {
			if v := q.Get(k); v != "" {
				next.Set(k, v)
			}
		}
		next.Set("cursor", list.NextCursor)
		pg.Next = next.Encode()
	}
	p.fillLinks(r, m, pg)
	p.render(w, code, pg)
}

func (p *Portal) row(v *payments.PaymentView) row {
	idem := make([]byte, 8)
	_, _ = rand.Read(idem)
	created, _ := time.Parse(time.RFC3339Nano, v.CreatedAt)
	left := v.AmountCaptured - v.AmountRefunded
	return row{
		PaymentView: v, Created: created.UTC().Format("2006-01-02 15:04:05"),
		Amount: money(v.Amount, v.Currency), Captured: money(v.AmountCaptured, v.Currency), Refunded: money(v.AmountRefunded, v.Currency),
		Capturable: decimal(v.Amount, v.Currency), Refundable: decimal(left, v.Currency),
		CanCapture: v.Status == payments.StatusAuthorized && v.Capture == "manual",
		CanVoid:    v.Status == payments.StatusAuthorized && v.Capture == "manual",
		CanRefund:  v.Status == payments.StatusCaptured && left > 0,
		Idem:       "portal-" + hex.EncodeToString(idem),
	}
}

// login checks a merchant's API key and starts a session.
func (p *Portal) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		p.render(w, http.StatusForbidden, &page{LoginHint: true, Error: "the login form came from another site"})
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	h := sha256.Sum256([]byte(key))
	m, keyName, err := p.cfg.Merchants.MerchantByKey(h[:])
	switch {
	case err != nil:
		p.log.Error("portal: merchant lookup", "err", err)
		p.render(w, http.StatusServiceUnavailable, &page{LoginHint: true, Error: "the merchant could not be looked up: try again"})
		return
	case key == "" || m == nil:
		p.logins.WithLabelValues("refused").Inc()
		p.log.Warn("portal login refused", "remote", r.RemoteAddr)
		p.render(w, http.StatusUnauthorized, &page{LoginHint: true, LoginFailed: true, Error: "unknown API key"})
		return
	}
	p.logins.WithLabelValues("ok").Inc()
	p.log.Info("portal login", "merchant", m.ID, "key", keyName, "remote", r.RemoteAddr)
	p.setCookie(w, p.newSession(m.ID, keyName))
	http.Redirect(w, r, "/portal/", http.StatusSeeOther)
}

func (p *Portal) logout(w http.ResponseWriter, r *http.Request) {
	if _, s := p.merchant(r); s != nil && sameOrigin(r) && p.checkCSRF(r, s) == nil {
		p.setCookie(w, "")
	}
	http.Redirect(w, r, "/portal/", http.StatusSeeOther)
}

// act is a capture, void or refund button.
func (p *Portal) act(w http.ResponseWriter, r *http.Request) {
	m, s, ok := p.formPost(w, r)
	if !ok {
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	path := map[string]string{"capture": "capture", "void": "void", "refund": "refunds"}[action]
	if path == "" {
		p.orders(w, r, m, s, http.StatusNotFound, "", "no such action: "+action)
		return
	}
	body := "{}"
	if action != "void" {
		amount, err := minorUnits(r.PostFormValue("amount"), r.PostFormValue("currency"))
		if err != nil {
			p.orders(w, r, m, s, http.StatusBadRequest, "", err.Error())
			return
		}
		body = fmt.Sprintf(`{"amount":%d}`, amount)
	}
	idem := r.PostFormValue("idem")
	if len(idem) > 64 {
		idem = ""
	}
	var v payments.PaymentView
	code, e := p.call(r, m, http.MethodPost, "/v1/payments/"+url.PathEscape(id)+"/"+path, idem, []byte(body), &v)
	if e != "" {
		p.orders(w, r, m, s, code, "", fmt.Sprintf("%s of %s refused: %s", action, id, e))
		return
	}
	p.log.Info("portal action", "merchant", m.ID, "payment", id, "action", action, "status", v.Status)
	p.orders(w, r, m, s, http.StatusOK, fmt.Sprintf("%s of %s done: the payment is %s (captured %s, refunded %s).",
		strings.ToUpper(action[:1])+action[1:], id, v.Status, money(v.AmountCaptured, v.Currency), money(v.AmountRefunded, v.Currency)), "")
}

// call runs one payments API call in process as m and decodes its answer
// into out; on a refusal it returns the API's message.
func (p *Portal) call(r *http.Request, m *store.Merchant, method, path, idem string, body []byte, out any) (int, string) {
	req, err := http.NewRequestWithContext(payments.AsMerchant(r.Context(), m), method, path, bytes.NewReader(body))
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("bad request %s: %v", path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	// The API makes a link's URL on the address the merchant's browser
	// used (through a standby's forwarding too).
	req.Host, req.TLS = r.Host, r.TLS
	for _, h := range []string{payments.ForwardedHeader, "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	rec := &recorder{h: http.Header{}, Code: http.StatusOK}
	p.api.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &e) == nil && e.Error.Message != "" {
			return rec.Code, e.Error.Message
		}
		return rec.Code, fmt.Sprintf("the API answered %d", rec.Code)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		return http.StatusInternalServerError, "the API's answer did not decode: " + err.Error()
	}
	return rec.Code, ""
}

// recorder keeps an in-process answer.
type recorder struct {
	h    http.Header
	Code int
	Body bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(code int)        { r.Code = code }
func (r *recorder) Write(b []byte) (int, error) { return r.Body.Write(b) }
