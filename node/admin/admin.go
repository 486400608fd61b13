// Package admin is a node's admin HTTP API (cluster status and
// membership, snapshots and backups, transaction search and reports,
// business days and register batches, the terminal registry, the audit
// log, profiles), its
// Prometheus endpoint, the probes, and the operator's status page. Named
// tokens are read-only or operator; every write is an operator action
// recorded in the replicated audit log before and after it runs
// (audit.go), and refused to browsers of other sites and to foreign Host
// names (guard.go). The API's types and a client are in node/adminapi. To
// add an endpoint: a handler method of Server in the file of its group,
// its route in register (routes.go says how a route is guarded), its
// types in adminapi (and the client's method there), and a test in
// node/admin_test.go.
package admin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
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
	TerminalState
	MerchantState
	SAFStats() (map[string]store.SAFStat, error)
	Audit(q store.AuditQuery) ([]*store.AuditRecord, error)
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
	// Tokens are the named bearer tokens the API takes (all of it but the
	// probes, /metrics and the status page). None leaves it open, each
	// client the anonymous operator: the node allows that on loopback only.
	Tokens []Token
	// Hosts are the names (besides IP addresses and localhost) the API
	// answers to in the Host header: a name it does not know is how DNS
	// rebinding would reach it.
	Hosts []string
	// AuditKeep bounds the audit records the cluster keeps; 0:
	// DefaultAuditKeep.
	AuditKeep int
	// MaxReconciles bounds the reconciliations running at once on this
	// node (each reads a whole day and the acquirer's file); 0: 2.
	MaxReconciles int
	// AdminAddrOf maps a peer's id to its admin address: a standby sends
	// its audit records to the leader there. "" when unknown.
	AdminAddrOf func(id string) string
	// PeerClient, if set, makes the client of another node's admin API
	// (TLS); default adminapi.NewClient.
	PeerClient func(addr string) *adminapi.Client
	// TLS, if set, serves HTTPS only (its certificate is the node's).
	TLS *tls.Config

	Raft  Raft
	State State
	// KeyState and Vault: the card keys (the replicated state's, and this
	// node's ring).
	KeyState KeyState
	Vault    Vault
	// SchemaState: the state file's schema (GET /schema, POST
	// /schema/upgrade).
	SchemaState SchemaState
	Days        Days
	Views       Views
	Leaders     *leadership.History
	Registers   Registers
	Page        *StatusPage
	// RegisterAddrOf maps a peer's id to its register address.
	RegisterAddrOf func(id string) string
	// The acquirer the status page shows: the name and address of the
	// one-acquirer config, and the default acquirer's link.
	AcquirerName, AcquirerAddr string
	AcquirerLink               LinkStats
	// Gatherer is what /metrics serves: the node's registry.
	Gatherer   prometheus.Gatherer
	Registerer prometheus.Registerer
	// Fail is told when the listener stops on its own.
	Fail   func(error)
	Logger *slog.Logger
}

// Server is the admin API.
type Server struct {
	cfg   Config
	log   *slog.Logger
	srv   *http.Server
	gate  *gate
	audit *auditor
	// reconciles bounds the reconciliations running at once.
	reconciles slots
	routes     []route
}

// Timeouts of the admin HTTP server. A request's body (a settlement
// file to reconcile) must arrive within readTimeout.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
)

// adminOpTimeout bounds the membership changes and snapshots an admin
// request starts.
const adminOpTimeout = 30 * time.Second

// New builds the API without listening: Start serves it.
func New(cfg Config) (*Server, error) {
	toks, err := newTokens(cfg.Tokens)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if cfg.MaxReconciles <= 0 {
		cfg.MaxReconciles = 2
	}
	s := &Server{cfg: cfg, log: cfg.Logger, reconciles: make(slots, cfg.MaxReconciles)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := newMetrics(reg)
	s.gate = &gate{tokens: toks, hosts: cfg.Hosts, metrics: m, log: s.log}
	s.audit = &auditor{cfg: &s.cfg, log: s.log, metrics: m, writeRaftError: s.writeRaftError}
	rt := &router{}
	s.register(rt)
	s.routes = rt.routes
	mux, err := s.build(rt)
	if err != nil {
		return nil, err
	}
	s.srv = &http.Server{
		Handler: mux,
		// A client that trickles its request (or, over TLS, its
		// handshake) or idles on a kept-alive connection holds no more
		// than these. No write timeout: a backup streams as long as the
		// state is big.
		ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout,
		TLSConfig: cfg.TLS,
		// TLS handshake errors (a plain HTTP client, an untrusted
		// certificate) are the http package's own log lines.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Start listens on cfg.Addr and serves the API.
func Start(cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if s.gate.tokens.open() {
		s.log.Warn("admin API has no token: anyone who can reach it can change membership and read transactions; set admin_tokens", "admin", cfg.Addr)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	go func() {
		serve := func() error { return s.srv.Serve(ln) }
		if cfg.TLS != nil {
			serve = func() error { return s.srv.ServeTLS(ln, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
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

// register lists every endpoint: what each needs is the router's method
// it is registered with (open, read by HandleFunc's GET, write).
func (s *Server) register(m *router) {
	m.open("GET /livez", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	m.open("GET /readyz", s.readyz)
	m.open("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	// The status page polls /status.json.
	docs := statusDocs{cfg: &s.cfg}
	m.open("GET /{$}", servePage)
	m.open("GET /status.json", docs.serveJSON)

	m.HandleFunc("GET /status", s.status)
	m.HandleFunc("GET /leaders", s.leaders)
	m.HandleFunc("GET /totals", s.totals)
	m.HandleFunc("GET /hash", s.hash)
	m.HandleFunc("GET /members", s.members)
	m.write("POST /members", "member.add", s.addMember, bodyParams("id", "raft_addr"))
	m.write("DELETE /members/{id}", "member.remove", s.removeMember)
	m.write("POST /leader/transfer", "leader.transfer", s.transferLeader)
	m.write("POST /snapshot", "snapshot", s.snapshot, anyNode())
	// A backup changes nothing but carries the whole state out: an
	// operator's action, audited.
	m.write("GET /backup", "backup", s.backup, anyNode())
	m.HandleFunc("GET /txns", s.txns)
	m.HandleFunc("GET /txns/{id}", s.txn)
	m.HandleFunc("GET /reports", s.report)
	s.dayRoutes(m)
	s.terminalRoutes(m)
	s.keyRoutes(m)
	s.schemaRoutes(m)
	m.HandleFunc("GET /merchants", s.merchants)
	m.write("POST /merchants", "merchant.add", s.addMerchant)
	// The secret is the body's other field: never audited.
	m.write("POST /merchants/{id}/webhook", "merchant.webhook", s.setWebhook, bodyParams("url"))
	m.HandleFunc("GET /audit", s.audit.listAudit)
	m.routes = append(m.routes, route{pattern: "POST /audit/records", need: RoleOperator, auditWrite: true, h: s.audit.recordAudit})
	// Profiles: an operator chasing CPU or memory on a live node needs
	// them without a restart.
	m.HandleFunc("GET /debug/pprof/", pprof.Index)
	m.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	m.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
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
