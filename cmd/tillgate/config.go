package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node"
)

// fileConfig is the JSON config file of `tillgate serve`. Durations are Go
// duration strings ("500ms", "8s"); anything left out keeps its default.
type fileConfig struct {
	ID           string  `json:"id"`
	DataDir      string  `json:"data_dir"`
	RegisterAddr string  `json:"register_addr"`
	RaftAddr     string  `json:"raft_addr"`
	AdminAddr    *string `json:"admin_addr"`
	// RegisterTLS, with cert_file and key_file, makes the register port
	// speak TLS only.
	RegisterTLS struct {
		CertFile          string `json:"cert_file"`
		KeyFile           string `json:"key_file"`
		ClientCAFile      string `json:"client_ca_file"`
		RequireClientCert bool   `json:"require_client_cert"`
	} `json:"register_tls"`
	// APIAddr serves the payments API; absent or empty: none.
	APIAddr string `json:"api_addr"`
	// APICertFile and APIKeyFile make the payments API HTTPS.
	APICertFile string `json:"api_cert_file"`
	APIKeyFile  string `json:"api_key_file"`
	// ACSURL is the card issuers' ACS (3-D Secure); absent or empty: none.
	ACSURL string `json:"acs_url"`
	// AdminTokens are the admin API's named tokens, each read from its
	// file; AdminTokenFile (the older form) is one more operator token,
	// named "admin".
	AdminTokens    []fileToken `json:"admin_tokens"`
	AdminTokenFile string      `json:"admin_token_file"`
	// AdminHosts are the DNS names the admin API answers to (besides IP
	// addresses and localhost).
	AdminHosts []string `json:"admin_hosts"`
	// AdminCertFile and AdminKeyFile make the admin API HTTPS.
	AdminCertFile string     `json:"admin_cert_file"`
	AdminKeyFile  string     `json:"admin_key_file"`
	Peers         []filePeer `json:"peers"`
	Bootstrap     bool       `json:"bootstrap"`
	CardKeyFile   string     `json:"card_key_file"`
	CardKeyDir    string     `json:"card_key_dir"`
	HexBitmap     bool       `json:"hex_bitmap"`
	ASCIIHeader   bool       `json:"ascii_header"`
	MaxFrame      int        `json:"max_frame"`
	IdleTimeout   duration   `json:"idle_timeout"`
	MaxConns      int        `json:"max_conns"`
	// The register listener's hostile-input limits (node.Config).
	MaxConnsPerIP      int `json:"max_conns_per_ip"`
	MaxInflightPerConn int `json:"max_inflight_per_conn"`
	WriteBufferCap     int `json:"write_buffer_cap"`
	AcceptRate         int `json:"accept_rate"`
	AcceptBurst        int `json:"accept_burst"`
	Acquirer           struct {
		Name    string   `json:"name"`
		Addr    string   `json:"addr"`
		Conns   int      `json:"conns"`
		Timeout duration `json:"timeout"`
		TLS     *fileTLS `json:"tls"`
	} `json:"acquirer"`
	// Acquirers replaces "acquirer" with several, routed by BIN.
	Acquirers       []fileAcquirer `json:"acquirers"`
	DefaultAcquirer string         `json:"default_acquirer"`
	SAF             fileSAF        `json:"saf"`
	StandIn         *fileStandIn   `json:"stand_in"`
	BusinessDay     struct {
		Cutover       string   `json:"cutover"`   // "HH:MM"; empty: operator cutovers only
		TimeZone      string   `json:"time_zone"` // IANA name; default UTC
		SettlementDir string   `json:"settlement_dir"`
		Poll          duration `json:"poll"`
	} `json:"business_day"`
	Raft struct {
		HeartbeatTimeout   duration `json:"heartbeat_timeout"`
		ElectionTimeout    duration `json:"election_timeout"`
		LeaderLeaseTimeout duration `json:"leader_lease_timeout"`
		SnapshotThreshold  uint64   `json:"snapshot_threshold"`
		TrailingLogs       uint64   `json:"trailing_logs"`
		// TLS, with its three files, carries Raft over mutual TLS.
		TLS struct {
			CAFile   string `json:"ca_file"`
			CertFile string `json:"cert_file"`
			KeyFile  string `json:"key_file"`
		} `json:"tls"`
	} `json:"raft"`
}

type filePeer struct {
	ID           string `json:"id"`
	RaftAddr     string `json:"raft_addr"`
	RegisterAddr string `json:"register_addr"`
	AdminAddr    string `json:"admin_addr"`
	APIAddr      string `json:"api_addr"`
}

type fileToken struct {
	Name string `json:"name"`
	Role string `json:"role"` // read-only or operator
	File string `json:"file"`
}

type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &durationError{raw: bytes.Clone(b), err: errors.New("not a string")}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &durationError{raw: bytes.Clone(b), err: err}
	}
	*d = duration(v)
	return nil
}

// loadConfig reads path over the defaults.
func loadConfig(path string, cfg *node.Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := parseConfig(b, cfg); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// parseConfig reads the JSON config b over the defaults in cfg. An error
// names the key, or the line and column of a syntax error.
func parseConfig(b []byte, cfg *node.Config) error {
	var f fileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return decodeError(b, err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		rest := b[end:]
		end += int64(len(rest) - len(bytes.TrimLeft(rest, " \t\r\n")))
		return fmt.Errorf("%s: data after the config object", lineCol(b, end))
	}
	setStr(&cfg.ID, f.ID)
	setStr(&cfg.DataDir, f.DataDir)
	setStr(&cfg.RegisterAddr, f.RegisterAddr)
	setStr(&cfg.RaftAddr, f.RaftAddr)
	if f.AdminAddr != nil {
		cfg.AdminAddr = *f.AdminAddr
	}
	setStr(&cfg.APIAddr, f.APIAddr)
	setStr(&cfg.APICertFile, f.APICertFile)
	setStr(&cfg.APIKeyFile, f.APIKeyFile)
	setStr(&cfg.ACSURL, f.ACSURL)
	setStr(&cfg.AdminTokenFile, f.AdminTokenFile)
	setStr(&cfg.RegisterTLS.CertFile, f.RegisterTLS.CertFile)
	setStr(&cfg.RegisterTLS.KeyFile, f.RegisterTLS.KeyFile)
	setStr(&cfg.RegisterTLS.ClientCAFile, f.RegisterTLS.ClientCAFile)
	cfg.RegisterTLS.RequireClientCert = cfg.RegisterTLS.RequireClientCert || f.RegisterTLS.RequireClientCert
	setStr(&cfg.RaftTLS.CAFile, f.Raft.TLS.CAFile)
	setStr(&cfg.RaftTLS.CertFile, f.Raft.TLS.CertFile)
	setStr(&cfg.RaftTLS.KeyFile, f.Raft.TLS.KeyFile)
	setStr(&cfg.AdminCertFile, f.AdminCertFile)
	setStr(&cfg.AdminKeyFile, f.AdminKeyFile)
	for _, t := range f.AdminTokens {
		cfg.AdminTokens = append(cfg.AdminTokens, node.AdminToken{Name: t.Name, Role: t.Role, File: t.File})
	}
	if f.AdminHosts != nil {
		cfg.AdminHosts = f.AdminHosts
	}
	if f.Peers != nil {
		cfg.Peers = nil
		for _, p := range f.Peers {
			cfg.Peers = append(cfg.Peers, node.Peer{ID: p.ID, RaftAddr: p.RaftAddr, RegisterAddr: p.RegisterAddr, AdminAddr: p.AdminAddr, APIAddr: p.APIAddr})
		}
	}
	cfg.Bootstrap = cfg.Bootstrap || f.Bootstrap
	setStr(&cfg.CardKeyFile, f.CardKeyFile)
	setStr(&cfg.CardKeyDir, f.CardKeyDir)
	cfg.HexBitmap, cfg.ASCIIHeader = f.HexBitmap, f.ASCIIHeader
	setInt(&cfg.MaxFrame, f.MaxFrame)
	setDur(&cfg.IdleTimeout, f.IdleTimeout)
	setInt(&cfg.MaxConns, f.MaxConns)
	setInt(&cfg.MaxConnsPerIP, f.MaxConnsPerIP)
	setInt(&cfg.MaxInflightPerConn, f.MaxInflightPerConn)
	setInt(&cfg.WriteBufferCap, f.WriteBufferCap)
	setInt(&cfg.AcceptRate, f.AcceptRate)
	setInt(&cfg.AcceptBurst, f.AcceptBurst)
	setStr(&cfg.Acquirer.Name, f.Acquirer.Name)
	setStr(&cfg.Acquirer.Addr, f.Acquirer.Addr)
	setInt(&cfg.Acquirer.Conns, f.Acquirer.Conns)
	setDur(&cfg.Acquirer.Timeout, f.Acquirer.Timeout)
	if f.Acquirer.TLS != nil {
		cfg.Acquirer.TLS = f.Acquirer.TLS.client()
	}
	f.applyAcquirers(cfg)
	setStr(&cfg.BusinessDay.Cutover, f.BusinessDay.Cutover)
	setStr(&cfg.BusinessDay.TimeZone, f.BusinessDay.TimeZone)
	setStr(&cfg.BusinessDay.SettlementDir, f.BusinessDay.SettlementDir)
	setDur(&cfg.BusinessDay.Poll, f.BusinessDay.Poll)
	setDur(&cfg.Raft.HeartbeatTimeout, f.Raft.HeartbeatTimeout)
	setDur(&cfg.Raft.ElectionTimeout, f.Raft.ElectionTimeout)
	setDur(&cfg.Raft.LeaderLeaseTimeout, f.Raft.LeaderLeaseTimeout)
	if f.Raft.SnapshotThreshold > 0 {
		cfg.Raft.SnapshotThreshold = f.Raft.SnapshotThreshold
	}
	if f.Raft.TrailingLogs > 0 {
		cfg.Raft.TrailingLogs = f.Raft.TrailingLogs
	}
	return nil
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setInt(dst *int, v int) {
	if v != 0 {
		*dst = v
	}
}

func setDur(dst *time.Duration, v duration) {
	if v != 0 {
		*dst = time.Duration(v)
	}
}

// parsePeers reads "id=raftaddr/registeraddr[/adminaddr],..." as the
// --peers flag gives it.
func parsePeers(s string) ([]node.Peer, error) {
	var out []node.Peer
	for _, item := range strings.Split(s, ",") {
		id, addrs, ok := strings.Cut(strings.TrimSpace(item), "=")
		raft, rest, ok2 := strings.Cut(addrs, "/")
		reg, adm, _ := strings.Cut(rest, "/")
		if !ok || !ok2 || id == "" || reg == "" {
			return nil, fmt.Errorf("--peers item %q: want id=raft_host:port/register_host:port[/admin_host:port]", item)
		}
		out = append(out, node.Peer{ID: id, RaftAddr: raft, RegisterAddr: reg, AdminAddr: adm})
	}
	return out, nil
}
