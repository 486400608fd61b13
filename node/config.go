package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/node/admin"
	"github.com/tillgate/tillgate/node/bins"
	"github.com/tillgate/tillgate/node/businessday"
	"github.com/tillgate/tillgate/node/reseal"
	"github.com/tillgate/tillgate/node/saf"
	"github.com/tillgate/tillgate/node/standin"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/wire"
)

// The config's parts, defined by the packages that use them.
type (
	// AcquirerConfig is one acquirer host of Config.Acquirers.
	AcquirerConfig = upstream.Config
	// BINRange is a range of card prefixes of equal length.
	BINRange = bins.Range
	// StandInPolicy says when the active approves by itself.
	StandInPolicy = standin.Policy
	// BINLimit is a stand-in floor limit for a card range.
	BINLimit = standin.BINLimit
	// SAFConfig tunes the sender of advices and reversals owed to
	// acquirers.
	SAFConfig = saf.Config
	// BusinessDayConfig says when the business day is cut over and where
	// its settlement files go.
	BusinessDayConfig = businessday.Config
)

// DefaultSAFConfig: retry after 1 s, 2 s, ... up to 1 min; skip past an
// entry after 5 attempts.
func DefaultSAFConfig() SAFConfig { return saf.DefaultConfig() }

// Peer is one voter of the cluster, as every node's config lists it.
type Peer struct {
	ID           string
	RaftAddr     string
	RegisterAddr string
	// AdminAddr is the peer's admin API: a standby records the operator
	// actions it runs (snapshot, backup, reconciliation) at the leader's.
	// Without it, a standby refuses them (503) unless it leads.
	AdminAddr string
	// APIAddr is the peer's payments API (api_addr), where a standby
	// forwards payments API calls when the peer is the active; empty when
	// it serves none.
	APIAddr string
}

// AdminToken is one named token of the admin API.
type AdminToken struct {
	Name string
	Role string // read-only or operator
	// File holds the token (surrounding white space ignored); Value, for
	// tests and tools that build a Config in code, instead.
	File  string
	Value string
}

// LegacyAdminTokenName names the token of admin_token_file in the audit
// log.
const LegacyAdminTokenName = "admin"

// Config is everything a node needs. Start from DefaultConfig.
type Config struct {
	ID      string
	DataDir string

	// RegisterAddr is where cash registers connect (ISO 8583 over TCP).
	RegisterAddr string
	// RegisterTLS, with a certificate, makes the register port speak TLS
	// only (plain TCP fails the handshake). A standby then relays to the
	// active over TLS, presenting its own register certificate and
	// verifying the active's against ClientCAFile: the nodes' register
	// certificates must chain to it.
	RegisterTLS RegisterTLSConfig
	// RaftAddr is this node's Raft transport address.
	RaftAddr string
	// AdminAddr serves the admin API, /metrics, /livez and /readyz; empty disables it.
	AdminAddr string
	// AdminTokens are the admin API's named bearer tokens (all of it but
	// /livez, /readyz, /metrics and the status page needs one): read-only
	// ones read, operator ones also act, and the audit log names the token
	// that acted. AdminToken, or the content of AdminTokenFile (the older
	// form), is one more operator token named "admin". With none, the API
	// is open to anyone who can reach AdminAddr, which Validate allows on
	// a loopback address only.
	AdminTokens    []AdminToken
	AdminToken     string
	AdminTokenFile string
	// AdminCertFile and AdminKeyFile, if set, make the admin API (and
	// /metrics, the probes, the status page) HTTPS only: the node's
	// certificate and key, PEM. Clients verify it against the CA that
	// issued it (tillctl --cacert).
	AdminCertFile, AdminKeyFile string
	// AdminHosts are the DNS names clients use for the admin API: a Host
	// header naming anything else but an IP address or localhost is
	// refused (DNS rebinding).
	AdminHosts []string
	// APIAddr serves the card-not-present payments API (node/payments);
	// empty (the default) disables it. A standby forwards calls to the
	// active's Peers[].APIAddr.
	APIAddr string
	// APICertFile and APIKeyFile, if set, make the payments API (and the
	// merchant portal) HTTPS only, like AdminCertFile for the admin API.
	// Every node of a cluster should set them or none: a standby forwards
	// over HTTPS when it serves HTTPS, verifying the active against the
	// system's roots and the cluster's CA (RaftTLS.CAFile).
	APICertFile, APIKeyFile string
	// ACSURL is the card issuers' access control server (3-D Secure, as
	// acqsim --acs serves it: http://host:port): the payments API asks it
	// whether a card's holder must pass a challenge before authorizing.
	// Empty: card-not-present payments go without cardholder
	// authentication.
	ACSURL string

	// Peers lists every voter, this node included. The register addresses
	// are what answers advertise as the active's address.
	Peers []Peer
	// Bootstrap forms the cluster from Peers when the node has no Raft state yet.
	Bootstrap bool

	// HexBitmap and ASCIIHeader select the per-listener dialect options.
	HexBitmap   bool
	ASCIIHeader bool
	MaxFrame    int

	// IdleTimeout closes register connections silent for this long.
	IdleTimeout time.Duration
	// MaxConns caps register connections; more are closed at accept.
	MaxConns int
	// Hostile-input limits of the register listener (server.Config;
	// zero: the default, negative: no limit). MaxConnsPerIP: connections
	// from one source address (default 64: a store's registers may share a
	// NAT address); MaxInflightPerConn: requests in flight on one
	// connection, past which it is closed (default 32); WriteBufferCap:
	// bytes of unread answers before a connection is closed (default 256
	// KiB); AcceptRate, AcceptBurst: connections accepted a second (default
	// 2,000, burst 4,000: a fleet reconnecting after a failover is served).
	MaxConnsPerIP      int
	MaxInflightPerConn int
	WriteBufferCap     int
	AcceptRate         int
	AcceptBurst        int

	// Acquirer is the upstream acquirer host when there is only one (the
	// older form); Acquirers, when set, replaces it.
	Acquirer acquirer.Config
	// Acquirers are the acquirer hosts, each with the card ranges routed
	// to it; DefaultAcquirer (default: the first) takes every other card.
	Acquirers       []AcquirerConfig
	DefaultAcquirer string
	// SAF tunes the sender of advices and reversals owed to acquirers.
	SAF SAFConfig
	// StandIn is the policy for approving while an acquirer is out.
	StandIn StandInPolicy
	// BusinessDay: the cutover schedule and where settlement files go.
	BusinessDay BusinessDayConfig
	// Clock, if set, replaces time.Now for the business day (tests jump it).
	Clock func() time.Time
	// Failpoint, if set, is called at the named points of the business
	// day's close (FailpointCutover, ...): fault tests kill the process
	// there. nil in production.
	Failpoint func(name string)
	// StateCommitHook, if set, runs before every commit of the state file;
	// an error fails that commit as a disk error would, and the node stops
	// (Err). Fault tests only; nil in production.
	StateCommitHook func() error
	// CardKeyFile holds the first 32-byte card-data key as 64 hex
	// characters: card key 1, and the source of the keyed-hash key, which
	// never rotates (store/DESIGN.md, "Card keys"). Mode 0600 or stricter.
	CardKeyFile string
	// CardKeyDir, if set, holds the later card keys as ID.key (ID 2-255,
	// mode 0600), read again whenever a key is needed that is not loaded:
	// a key is added to every node's directory, then made current with
	// `tillctl key rotate ID`.
	CardKeyDir string
	// Reseal tunes the re-seal of cards under the current key on the
	// active.
	Reseal reseal.Config

	// Raft timings and log settings; ID, Dir, addresses and peers are
	// filled in from the fields above.
	Raft cluster.Config
	// RaftTLS, with its files, carries Raft over mutual TLS (it sets
	// Raft.TLS).
	RaftTLS RaftTLSConfig

	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// DefaultConfig returns a config that works for a single-host demo once ID,
// DataDir, addresses, peers and the card key are set.
func DefaultConfig() Config {
	return Config{
		RegisterAddr: "127.0.0.1:8583",
		RaftAddr:     "127.0.0.1:7001",
		AdminAddr:    "127.0.0.1:9101",
		MaxFrame:     4096,
		IdleTimeout:  5 * time.Minute,
		MaxConns:     10000,
		Acquirer:     acquirer.DefaultConfig(),
		SAF:          DefaultSAFConfig(),
		BusinessDay:  BusinessDayConfig{Poll: time.Second},
		Raft:         cluster.DefaultConfig(),
	}
}

// Validate reports the first thing that keeps the config from working, saying
// which setting to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("id is empty: give each node a unique id"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if c.ACSURL != "" {
		if u, err := url.Parse(c.ACSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("acs_url %q: want http://host:port or https://host:port", c.ACSURL))
		} else if c.APIAddr == "" {
			errs = append(errs, fmt.Errorf("acs_url %q is set but api_addr is not: only the payments API uses it", c.ACSURL))
		}
	}
	if c.APIAddr != "" {
		if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
			errs = append(errs, fmt.Errorf("api_addr %q: want host:port", c.APIAddr))
		}
	}
	for name, addr := range map[string]string{"register_addr": c.RegisterAddr, "raft_addr": c.RaftAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port", name, addr))
		}
	}
	if err := c.validateAdmin(); err != nil {
		errs = append(errs, err)
	}
	if c.CardKeyFile == "" {
		errs = append(errs, errors.New("card_key_file is empty: the PAN is stored only encrypted; create one with `tillgate keygen FILE`"))
	}
	if len(c.Acquirers) == 0 && c.Acquirer.Addr == "" {
		errs = append(errs, errors.New("acquirer.addr is empty"))
	} else if err := c.validateAcquirers(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.RegisterTLS.Validate(), c.RaftTLS.Validate())
	errs = append(errs, c.SAF.Validate(), c.StandIn.Validate())
	errs = append(errs, c.BusinessDay.Validate())
	if c.MaxFrame <= 0 || c.MaxFrame > 65535 {
		errs = append(errs, fmt.Errorf("max_frame %d: want 1..65535", c.MaxFrame))
	}
	self := false
	for _, p := range c.Peers {
		if p.ID == c.ID {
			self = true
		}
		if p.ID == "" || p.RaftAddr == "" || p.RegisterAddr == "" {
			errs = append(errs, fmt.Errorf("peer %+v: id, raft_addr and register_addr are all required", p))
		}
	}
	if len(c.Peers) > 0 && !self {
		errs = append(errs, fmt.Errorf("peers do not list this node's id %q", c.ID))
	}
	if (c.APICertFile == "") != (c.APIKeyFile == "") {
		errs = append(errs, fmt.Errorf("api_cert_file %q, api_key_file %q: give both for HTTPS, or neither", c.APICertFile, c.APIKeyFile))
	}
	if c.APICertFile != "" && c.APIAddr == "" {
		errs = append(errs, fmt.Errorf("api_cert_file %q: without api_addr there is no payments API to serve over HTTPS", c.APICertFile))
	}
	if (c.AdminCertFile == "") != (c.AdminKeyFile == "") {
		errs = append(errs, fmt.Errorf("admin_cert_file %q, admin_key_file %q: give both for HTTPS, or neither", c.AdminCertFile, c.AdminKeyFile))
	}
	if c.Bootstrap && len(c.Peers) == 0 {
		errs = append(errs, errors.New("bootstrap needs peers"))
	}
	return errors.Join(errs...)
}

func (c *Config) dialect() wire.Dialect {
	d := wire.DefaultDialect()
	if c.HexBitmap {
		d.Bitmap = wire.BitmapHex
	}
	if c.ASCIIHeader {
		d.Header = wire.HeaderASCII4
	}
	d.MaxFrame = c.MaxFrame
	return d
}

func (c *Config) clusterConfig() cluster.Config {
	rc := c.Raft
	rc.ID = c.ID
	rc.Dir = filepath.Join(c.DataDir, "raft")
	rc.BindAddr = c.RaftAddr
	rc.AdvertiseAddr = c.RaftAddr
	rc.Bootstrap = c.Bootstrap
	rc.Peers = nil
	for _, p := range c.Peers {
		rc.Peers = append(rc.Peers, cluster.Peer{ID: p.ID, Addr: p.RaftAddr})
	}
	rc.Logger = c.Logger
	return rc
}

// acquirerList is the acquirers the node uses: Config.Acquirers, or the
// single Config.Acquirer (the older form) as the default and only one.
func (c *Config) acquirerList() ([]AcquirerConfig, string) {
	if len(c.Acquirers) == 0 {
		a := AcquirerConfig{Config: c.Acquirer}
		if a.Name == "" {
			a.Name = acquirer.DefaultConfig().Name
		}
		return []AcquirerConfig{a}, a.Name
	}
	def := c.DefaultAcquirer
	if def == "" {
		def = c.Acquirers[0].Name
	}
	return c.Acquirers, def
}

// validateAcquirers checks names, addresses, the default and the routes.
func (c *Config) validateAcquirers() error {
	list, def := c.acquirerList()
	var errs []error
	seen := map[string]bool{}
	for i, a := range list {
		switch {
		case a.Name == "" || len(a.Name) > 64 || strings.ContainsRune(a.Name, '|'):
			errs = append(errs, fmt.Errorf("acquirers[%d]: name %q: want 1-64 characters without '|'", i, a.Name))
		case seen[a.Name]:
			errs = append(errs, fmt.Errorf("acquirers[%d]: name %q used twice", i, a.Name))
		}
		seen[a.Name] = true
		if a.Addr == "" {
			errs = append(errs, fmt.Errorf("acquirer %q: addr is empty", a.Name))
		}
		if a.MaxInFlight < 0 {
			errs = append(errs, fmt.Errorf("acquirer %q: max_in_flight %d is negative", a.Name, a.MaxInFlight))
		}
	}
	if !seen[def] {
		errs = append(errs, fmt.Errorf("default_acquirer %q is not one of the acquirers", def))
	}
	if _, err := upstream.NewRouter(list, def); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// requestTimeout bounds one request on this node: the slowest acquirer's
// time plus two commits, so the node gives up before a register's 30 s
// deadline and an OUTCOME after a slow acquirer's answer still commits.
func (c *Config) requestTimeout() time.Duration {
	list, _ := c.acquirerList()
	var slowest time.Duration
	for _, a := range list {
		t := a.Timeout
		if t <= 0 {
			t = acquirer.DefaultConfig().Timeout
		}
		slowest = max(slowest, t)
	}
	return slowest + 5*time.Second
}

// validateAdmin refuses an admin API anyone on the network could use: on
// an address that is not loopback, it needs a token.
func (c *Config) validateAdmin() error {
	if c.AdminAddr == "" || len(c.AdminTokens) > 0 || c.AdminToken != "" || c.AdminTokenFile != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.AdminAddr)
	if err != nil {
		return fmt.Errorf("admin_addr %q: want host:port", c.AdminAddr)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("admin_addr %s is not a loopback address and the admin API has no token: anyone who reaches it could change membership and read transactions; "+
		"set admin_tokens (each {\"name\", \"role\": \"read-only\"|\"operator\", \"file\"}) or admin_token_file, or listen on 127.0.0.1", c.AdminAddr)
}

// adminTokens reads the admin API's tokens: AdminTokens, then the older
// AdminToken or AdminTokenFile as the operator token "admin".
func (c *Config) adminTokens() ([]admin.Token, error) {
	var out []admin.Token
	for i, t := range c.AdminTokens {
		role, err := admin.ParseRole(t.Role)
		if err != nil {
			return nil, fmt.Errorf("admin_tokens[%d] %q: %w", i, t.Name, err)
		}
		v := t.Value
		if t.File != "" {
			if v, err = readTokenFile(t.File); err != nil {
				return nil, fmt.Errorf("admin_tokens[%d] %q: %w", i, t.Name, err)
			}
		}
		if v == "" {
			return nil, fmt.Errorf("admin_tokens[%d] %q: no token: set its file", i, t.Name)
		}
		out = append(out, admin.Token{Name: t.Name, Role: role, Value: v})
	}
	legacy, err := c.adminToken()
	if err != nil {
		return nil, err
	}
	if legacy != "" {
		out = append(out, admin.Token{Name: LegacyAdminTokenName, Role: admin.RoleOperator, Value: legacy})
	}
	return out, nil
}

func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty: put the token in it", path)
	}
	return tok, nil
}

// adminToken is AdminToken, or the content of AdminTokenFile.
func (c *Config) adminToken() (string, error) {
	if c.AdminTokenFile == "" {
		return c.AdminToken, nil
	}
	tok, err := readTokenFile(c.AdminTokenFile)
	if err != nil {
		return "", fmt.Errorf("admin_token_file: %w", err)
	}
	return tok, nil
}

// apiTLS is the payments API's TLS config, and how a standby verifies the
// active's when it forwards: nil, nil for plain HTTP.
func (c *Config) apiTLS() (*tls.Config, *tls.Config, error) {
	if c.APICertFile == "" {
		return nil, nil, nil
	}
	server, err := tlsconf.Server{CertFile: c.APICertFile, KeyFile: c.APIKeyFile}.Config()
	if err != nil {
		return nil, nil, fmt.Errorf("payments API TLS (api_cert_file, api_key_file): %w", err)
	}
	// The peers' API certificates may come from the cluster's CA (the
	// demo's) or from a public one (merchants' browsers trust it): the
	// system's roots and the cluster's CA file both verify them.
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if ca := c.RaftTLS.CAFile; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil || !roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("payments API TLS: the cluster CA %s to verify peers' APIs with: %v", ca, err)
		}
	}
	return server, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}, nil
}

// adminTLS is the admin API's TLS config: nil for plain HTTP.
func (c *Config) adminTLS() (*tls.Config, error) {
	if c.AdminCertFile == "" {
		return nil, nil
	}
	tc, err := tlsconf.Server{CertFile: c.AdminCertFile, KeyFile: c.AdminKeyFile}.Config()
	if err != nil {
		return nil, fmt.Errorf("admin TLS (admin_cert_file, admin_key_file): %w", err)
	}
	return tc, nil
}
