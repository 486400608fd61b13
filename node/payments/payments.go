// Package payments is a node's card-not-present API: JSON over HTTP for
// online merchants (authorize, capture, void, refund, look up, list). It
// turns every call into the ISO 8583 request a register on the merchant's
// virtual terminal would send, and hands it to the pipeline, so that a
// payment has the register path's duplicate check, INTENT and OUTCOME,
// failover, store-and-forward, settlement and reconciliation unchanged.
// Before anything goes to the pipeline, the call is recorded in the
// replicated state (store.Payment) with the identity (STAN, DE7) its
// transaction gets: a retry under the same Idempotency-Key, on any node,
// sends the same identity again, as a repeat. A standby forwards every
// call to the active's API, so a client needs one address.
package payments

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Handler is the authorization path: pipeline.Pipeline.
type Handler interface {
	// Handle answers one request; nil when its outcome is not known.
	Handle(ctx context.Context, req *wire.Message) *wire.Message
}

// Log is the replicated log: cluster.Cluster.
type Log interface {
	Apply(ctx context.Context, cmd []byte) (any, error)
}

// State is what the API reads of the replicated state: store.Store.
type State interface {
	Get(id string) (*store.Txn, bool, error)
	MerchantByKey(hash []byte) (*store.Merchant, string, error)
	Payment(id string) (*store.Payment, error)
	Payments(merchant string, from, to int64, cursor string, limit int) ([]*store.Payment, string, error)
	Merchant(id string) (*store.Merchant, error)
	Link(id string) (*store.Link, error)
	LinkByToken(token string) (*store.Link, error)
	Links(merchant, cursor string, limit int) ([]*store.Link, string, error)
	Outbox(merchant string, after uint64, limit int) ([]store.Message, error)
	OutboxHas(id string) (bool, error)
}

// Vault opens the card of a payment's authorization (a capture, void or
// refund carries it like a register's would) and keys the request
// fingerprint: store.Vault.
type Vault interface {
	Open(enc []byte, id string) (string, error)
	Hash(pan string) []byte
}

// Leadership is this node's view of the leadership: leadership.Tracker.
type Leadership interface {
	Current() *leadership.View
}

// Config is what a Server is built from.
type Config struct {
	NodeID string
	// Addr is where the API listens (api_addr).
	Addr string
	// APIAddrOf maps a node id to its API address, for forwarding to the
	// active.
	APIAddrOf func(id string) string
	// Timeout bounds one call's work on the active: the pipeline's own
	// request timeout plus a margin.
	Timeout time.Duration
	// Clock stamps payments (default time.Now).
	Clock func() time.Time
	// TLS, if set, serves the API over HTTPS (api_cert_file,
	// api_key_file); ForwardTLS is then how a standby verifies the
	// active's API when it forwards a call (nil: plain HTTP).
	TLS, ForwardTLS *tls.Config
	// Mount adds routes that build on the API (the merchant portal): mux
	// is the API's own, api the API's routes without forwarding, for
	// in-process calls (see AsMerchant). Both sit behind the forwarding to
	// the active.
	Mount func(mux *http.ServeMux, api http.Handler)
	// ACSURL is the card issuer's access control server (3-D Secure), as
	// acqsim --acs serves it (http://host:port); empty: payments are
	// authorized without cardholder authentication.
	ACSURL string
	// ACSTimeout bounds one call to the ACS (default 10 s).
	ACSTimeout time.Duration

	Handler Handler
	Raft    Log
	State   State
	Vault   Vault
	Views   Leadership
	// Fail is told when the listener stops on its own.
	Fail       func(error)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server is the payments API of one node.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	srv     *http.Server
	ln      net.Listener
	fwd     http.RoundTripper // to the active's API
	acs     *acsClient        // nil without an ACS
	hold    *cardHold
	links   linkLocks
}

// ForwardedHeader marks a call a standby forwarded: the receiver answers it
// itself or 503, never forwards it again.
const ForwardedHeader = "X-Tillgate-Forwarded-By"

// maxBody bounds a request body.
const maxBody = 1 << 16

// New builds the API and registers its metrics; Start listens.
func New(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ACSTimeout <= 0 {
		cfg.ACSTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Registerer), fwd: http.DefaultTransport,
		hold: &cardHold{cards: map[string]heldCard{}}}
	if cfg.ForwardTLS != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg.ForwardTLS
		s.fwd = t
	}
	if cfg.ACSURL != "" {
		s.acs = &acsClient{base: strings.TrimSuffix(cfg.ACSURL, "/"), http: &http.Client{Timeout: cfg.ACSTimeout}}
	}
	return s
}

// Start listens on cfg.Addr and serves.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("payments: listen %s: %w", s.cfg.Addr, err)
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Fail(fmt.Errorf("payments: listener: %w", err))
		}
	}()
	return nil
}

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the listener, waiting up to 2 s for calls in progress.
func (s *Server) Shutdown() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Handler is the API's routes behind forwarding and authentication.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, m *store.Merchant)) {
		mux.Handle(pattern, s.authenticated(pattern, fn))
	}
	route("POST /v1/payments", s.create)
	route("GET /v1/payments", s.list)
	route("GET /v1/payments/{id}", s.get)
	route("POST /v1/payments/{id}/capture", s.capture)
	route("POST /v1/payments/{id}/void", s.void)
	route("POST /v1/payments/{id}/refunds", s.refund)
	if s.cfg.Mount != nil {
		api := http.NewServeMux()
		api.Handle("/v1/", mux)
		s.cfg.Mount(mux, api)
	}
	route("POST /v1/links", s.createLink)
	route("GET /v1/links", s.listLinks)
	route("GET /v1/links/{id}", s.getLink)
	route("GET /v1/outbox", s.outbox)
	// The customer's pages: no API key, the URL's token is the credential.
	mux.HandleFunc("GET /pay/{token}", s.payPage)
	mux.HandleFunc("POST /pay/{token}", s.paySubmit)
	mux.HandleFunc("GET /challenge/{id}/{token}", s.challengePage)
	mux.HandleFunc("POST /challenge/{id}/{token}", s.challengeSubmit)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, "unknown", apiErr(http.StatusNotFound, "not_found", "", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s.forwarding(mux)
}

// forwarding sends every call that reaches a standby to the active's API
// and copies the answer back, so a client needs one address. A call that
// was forwarded already is answered here (or 503): never a loop.
func (s *Server) forwarding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := s.cfg.Views.Current()
		if v.Leader {
			next.ServeHTTP(w, r)
			return
		}
		// A standby holds no card: what it held as the active is for a
		// challenge the new active cannot finish with it anyway.
		s.hold.clear()
		target := ""
		if v.LeaderID != "" && s.cfg.APIAddrOf != nil {
			target = s.cfg.APIAddrOf(v.LeaderID)
		}
		if target == "" || r.Header.Get(ForwardedHeader) != "" {
			w.Header().Set("Retry-After", "1")
			if s.pageUnavailable(w, r, "no_active", "Nothing was sent: go back and try again in a moment.") {
				return
			}
			s.fail(w, r, "forward", apiErr(http.StatusServiceUnavailable, "no_active", "",
				"%s is a standby and knows no active to forward to (an election is running, or the active has no api_addr): retry shortly, with the same Idempotency-Key", s.cfg.NodeID))
			return
		}
		s.metrics.forwarded.Inc()
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				scheme := "http"
				if s.cfg.ForwardTLS != nil {
					scheme = "https"
				}
				pr.SetURL(&url.URL{Scheme: scheme, Host: target})
				// The Host the client named: the portal checks a form's
				// Origin against it.
				pr.Out.Host = pr.In.Host
				// The active builds the URLs of links and challenges on
				// the address the client used.
				pr.SetXForwarded()
				pr.Out.Header.Set(ForwardedHeader, s.cfg.NodeID)
			},
			Transport: s.fwd,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				w.Header().Set("Retry-After", "1")
				if s.pageUnavailable(w, r, "active_unreachable", "If you were paying, open the payment link again in a moment: it shows whether the payment went through.") {
					return
				}
				s.fail(w, r, "forward", apiErr(http.StatusServiceUnavailable, "active_unreachable", "",
					"the active %s did not answer (%v): retry with the same Idempotency-Key", v.LeaderID, err))
			},
		}
		proxy.ServeHTTP(w, r)
	})
}

// pageUnavailable answers a browser's page (the payment link's, the
// challenge's, the portal's) that cannot reach the active with a page
// saying so rather than the API's JSON, and reports whether it did.
func (s *Server) pageUnavailable(w http.ResponseWriter, r *http.Request, code, what string) bool {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/pay/") && !strings.HasPrefix(p, "/challenge/") && !strings.HasPrefix(p, "/portal") {
		return false
	}
	s.metrics.refused.WithLabelValues("forward", code).Inc()
	s.log.Info("payments page: the active is out of reach", "code", code, "path", p, "method", r.Method)
	s.render(w, http.StatusServiceUnavailable, "unavailable", &page{Title: "Please try again",
		Error: "The payment service is changing servers. " + what})
	return true
}

// authenticated answers 401 to a call without a merchant's API key, and
// otherwise runs fn for the merchant.
func (s *Server) authenticated(route string, fn func(w http.ResponseWriter, r *http.Request, m *store.Merchant)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := merchantOf(r.Context()); m != nil {
			rw := &recorder{ResponseWriter: w, code: http.StatusOK}
			fn(rw, r, m)
			s.metrics.requests.WithLabelValues(route, fmt.Sprint(rw.code)).Inc()
			s.log.Info("payments call", "route", route, "status", rw.code, "merchant", m.ID, "key", "portal", "payment", rw.payment)
			return
		}
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || key == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tillgate payments"`)
			s.fail(w, r, route, apiErr(http.StatusUnauthorized, "unauthorized", "", "send the merchant's API key: Authorization: Bearer KEY"))
			return
		}
		h := sha256.Sum256([]byte(key))
		m, keyName, err := s.cfg.State.MerchantByKey(h[:])
		switch {
		case err != nil:
			s.log.Error("payments: merchant lookup", "err", err)
			s.fail(w, r, route, apiErr(http.StatusServiceUnavailable, "unavailable", "", "merchant lookup failed: retry"))
			return
		case m == nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="tillgate payments", error="invalid_token"`)
			s.fail(w, r, route, apiErr(http.StatusUnauthorized, "unauthorized", "", "unknown API key"))
			return
		}
		rw := &recorder{ResponseWriter: w, code: http.StatusOK}
		fn(rw, r, m)
		s.metrics.requests.WithLabelValues(route, fmt.Sprint(rw.code)).Inc()
		s.log.Info("payments call", "route", route, "status", rw.code, "merchant", m.ID, "key", keyName, "payment", rw.payment)
	})
}

// recorder keeps the status code and the payment a call answered with,
// for the metrics and the log line.
type recorder struct {
	http.ResponseWriter
	code    int
	payment string
}

func (r *recorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
