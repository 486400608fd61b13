// Package admin is a node's admin HTTP API (cluster status and
// membership, snapshots and backups, transaction search and reports,
// business days and register batches, profiles), its Prometheus endpoint,
// the probes, and the operator's status page. The API's types and a client
// are in node/adminapi. To add an endpoint: a handler method of Server in
// the file of its group, its route in routes, its types in adminapi (and
// the client's method there), and a test in node/admin_test.go.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/businessday"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
)

// Raft is the cluster: cluster.Cluster.
type Raft interface {
	Status() cluster.Status
	AddVoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context) error
	Snapshot(ctx context.Context) error
	Apply(ctx context.Context, cmd []byte) (any, error)
}

// TxnState is what the transaction endpoints read: store.Store.
type TxnState interface {
	AppliedIndex() uint64
	Get(id string) (*store.Txn, bool, error)
	List(q store.Query) ([]*store.Txn, string, error)
	Report(q store.ReportQuery) ([]store.ReportRow, error)
	Totals() (store.Totals, error)
	Hash() ([]byte, error)
	Snapshot() (io.ReadCloser, error)
}

// DayState is what the business-day and batch endpoints read: store.Store.
type DayState interface {
	OpenDay() (string, error)
	Days() ([]*store.Day, error)
	Day(day string) (*store.Day, error)
	Batches(terminal string) ([]*store.Batch, error)
	Batch(terminal string, number uint64) (*store.Batch, bool, error)
}

// State is the replicated state: store.Store.
type State interface {
	TxnState
	DayState
	MerchantState
	SAFStats() (map[string]store.SAFStat, error)
}

// Days is the business day: businessday.Service.
type Days interface {
	Cutover(ctx context.Context, day string) (*store.Day, error)
	Reconcile(ctx context.Context, day, acquirer string, acqFile []byte) (*businessday.Reconciled, error)
	RecordReconciliation(ctx context.Context, day string, rec store.Reconciliation) error
	ServeDir() (string, error)
	Render(ctx context.Context, d *store.Day, dir, only string) (map[string]*businessday.Rendered, error)
	FileMismatch(day, acq, format string)
	Now() time.Time
}

// Views is this node's view of the leadership: leadership.Tracker.
type Views interface {
	Current() *leadership.View
}

// Registers counts the register connections: server.Server.
type Registers interface {
	Connections() int64
}

// LinkStats is an acquirer link's counters: acquirer.Link.
type LinkStats interface {
	Stats() acquirer.Stats
}

// Config is what a Server is built from.
type Config struct {
	NodeID string
	Addr   string // where the API listens
	// Token is the bearer token the API requires (all of it but the probes,
	// /metrics and the status page); empty leaves it open.
	Token string

	Raft      Raft
	State     State
	Days      Days
	Views     Views
	Leaders   *leadership.History
	Registers Registers
	Page      *StatusPage
	// RegisterAddrOf maps a peer's id to its register address.
	RegisterAddrOf func(id string) string
	// The acquirer the status page shows: the name and address of the
	// one-acquirer config, and the default acquirer's link.
	AcquirerName, AcquirerAddr string
	AcquirerLink               LinkStats
	// Gatherer is what /metrics serves: the node's registry.
	Gatherer prometheus.Gatherer
	// Fail is told when the listener stops on its own.
	Fail   func(error)
	Logger *slog.Logger
}

// Server is the admin API.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *http.Server
}

// adminOpTimeout bounds the membership changes and snapshots an admin
// request starts.
const adminOpTimeout = 30 * time.Second

// Start listens on cfg.Addr and serves the API.
func Start(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, log: cfg.Logger}
	if cfg.Token == "" {
		s.log.Warn("admin API has no token: anyone who can reach it can change membership and read transactions; set admin_token_file", "admin", cfg.Addr)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	s.srv = &http.Server{Handler: requireToken(cfg.Token, s.routes()), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Fail(fmt.Errorf("admin listener: %w", err))
		}
	}()
	return s, nil
}

// Shutdown stops the listener, waiting up to 2 s for requests in progress.
func (s *Server) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /leaders", s.leaders)
	mux.HandleFunc("GET /totals", s.totals)
	mux.HandleFunc("GET /hash", s.hash)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /members", s.members)
	mux.HandleFunc("POST /members", s.addMember)
	mux.HandleFunc("DELETE /members/{id}", s.removeMember)
	mux.HandleFunc("POST /leader/transfer", s.transferLeader)
	mux.HandleFunc("POST /snapshot", s.snapshot)
	mux.HandleFunc("GET /backup", s.backup)
	mux.HandleFunc("GET /txns", s.txns)
	mux.HandleFunc("GET /txns/{id}", s.txn)
	mux.HandleFunc("GET /reports", s.report)
	mux.HandleFunc("GET /merchants", s.merchants)
	mux.HandleFunc("POST /merchants", s.addMerchant)
	s.dayRoutes(mux)
	// The status page: no token (openPaths).
	docs := statusDocs{cfg: &s.cfg}
	mux.HandleFunc("GET /{$}", servePage)
	mux.HandleFunc("GET /status.json", docs.serveJSON)
	// Profiles, behind the token like the rest: an operator chasing CPU or
	// memory on a live node needs them without a restart.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// openPaths need no token: probes, Prometheus and the status page (which
// polls /status.json).
var openPaths = map[string]bool{"/livez": true, "/readyz": true, "/metrics": true, "/": true, "/status.json": true}

// requireToken answers 401 to requests without "Authorization: Bearer
// token", except on openPaths. An empty token lets everything through.
func requireToken(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" || openPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="tillgate"`)
			writeJSON(w, http.StatusUnauthorized, adminapi.Error{Error: "no bearer token", Hint: "send the node's admin token: tillctl --token or TILLCTL_TOKEN; the node reads it from admin_token_file"})
		case subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1:
			w.Header().Set("WWW-Authenticate", `Bearer realm="tillgate", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, adminapi.Error{Error: "wrong bearer token", Hint: "use the token in this node's admin_token_file"})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func paramErr(param, msg string) *adminapi.Error {
	return &adminapi.Error{Error: "parameter " + param + ": " + msg, Param: param}
}

func badParam(w http.ResponseWriter, param, msg string) {
	writeJSON(w, http.StatusBadRequest, *paramErr(param, msg))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
