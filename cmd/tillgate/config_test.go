package main

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/store"
)

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	os.WriteFile(path, []byte(`{"id":"node2","data_dir":"/d","peers":[{"id":"node2","raft_addr":"h:7002","register_addr":"h:8584"}],"acquirer":{"addr":"a:1","timeout":"3s"},"raft":{"election_timeout":"700ms"}}`), 0o600)
	cfg := node.DefaultConfig()
	if err := loadConfig(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "node2" || cfg.Acquirer.Timeout != 3*time.Second || cfg.Raft.ElectionTimeout != 700*time.Millisecond || cfg.MaxFrame != 4096 ||
		len(cfg.Peers) != 1 || cfg.Peers[0].RegisterAddr != "h:8584" {
		t.Fatalf("got %+v", cfg)
	}
	os.WriteFile(path, []byte(`{"idd":"x"}`), 0o600)
	if err := loadConfig(path, &cfg); err == nil || !strings.Contains(err.Error(), "idd") {
		t.Fatalf("an unknown key must be named, got %v", err)
	}
}

func TestParsePeers(t *testing.T) {
	p, err := parsePeers("n1=127.0.0.1:7001/127.0.0.1:8583, n2=h:7002/h:8584")
	if err != nil || len(p) != 2 || p[1] != (node.Peer{ID: "n2", RaftAddr: "h:7002", RegisterAddr: "h:8584"}) {
		t.Fatalf("got %+v %v", p, err)
	}
	if _, err := parsePeers("n1=127.0.0.1:7001"); err == nil {
		t.Fatal("a peer without a register address must be refused")
	}
	p, err = parsePeers("n1=r:1/g:2/a:3")
	if err != nil || p[0] != (node.Peer{ID: "n1", RaftAddr: "r:1", RegisterAddr: "g:2", AdminAddr: "a:3"}) {
		t.Fatalf("with an admin address: %+v %v", p, err)
	}
}

func TestLoadConfigAdminTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	os.WriteFile(path, []byte(`{"admin_addr":"10.0.0.1:9101","admin_token_file":"/t/legacy",
		"admin_tokens":[{"name":"ops","role":"operator","file":"/t/ops"},{"name":"mon","role":"read-only","file":"/t/mon"}],
		"admin_hosts":["admin.example.net"],
		"peers":[{"id":"n1","raft_addr":"r:1","register_addr":"g:1","admin_addr":"10.0.0.1:9101"}]}`), 0o600)
	cfg := node.DefaultConfig()
	if err := loadConfig(path, &cfg); err != nil {
		t.Fatal(err)
	}
	want := []node.AdminToken{{Name: "ops", Role: "operator", File: "/t/ops"}, {Name: "mon", Role: "read-only", File: "/t/mon"}}
	if !reflect.DeepEqual(cfg.AdminTokens, want) || cfg.AdminTokenFile != "/t/legacy" || !reflect.DeepEqual(cfg.AdminHosts, []string{"admin.example.net"}) ||
		cfg.Peers[0].AdminAddr != "10.0.0.1:9101" {
		t.Fatalf("got %+v %+v %v %+v", cfg.AdminTokens, cfg.AdminTokenFile, cfg.AdminHosts, cfg.Peers)
	}
}

func TestLoadConfigAcquirers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	os.WriteFile(path, []byte(`{"id":"n1","data_dir":"/d","card_key_file":"/k",
		"acquirers":[{"name":"visa","addr":"v:1","timeout":"2s","bins":[{"low":"4","high":"4"}]},
		             {"name":"mc","addr":"m:1","max_in_flight":500,"bins":[{"low":"51","high":"55"}]}],
		"default_acquirer":"visa",
		"saf":{"min_backoff":"2s","skip_after":7},
		"stand_in":{"enabled":true,"floor_limit":5000,"merchant_limits":{"M1":100},"card_count_per_day":3,
		            "offline_cap":100000,"negative_bins":[{"low":"555555","high":"555555"}],"bin_limits":[{"low":"4000","high":"4099","limit":10}]}}`), 0o600)
	cfg := node.DefaultConfig()
	if err := loadConfig(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := cfg.Acquirers
	if len(a) != 2 || a[0].Timeout != 2*time.Second || a[1].Timeout != 8*time.Second || a[1].MaxInFlight != 500 ||
		len(a[1].BINs) != 1 || a[1].BINs[0].High != "55" || cfg.DefaultAcquirer != "visa" {
		t.Fatalf("acquirers %+v default %q", a, cfg.DefaultAcquirer)
	}
	if cfg.SAF.MinBackoff != 2*time.Second || cfg.SAF.SkipAfter != 7 || cfg.SAF.MaxBackoff != time.Minute {
		t.Fatalf("saf %+v", cfg.SAF)
	}
	p := cfg.StandIn
	if !p.Enabled || p.FloorLimit != 5000 || p.MerchantLimits["M1"] != 100 || p.CardCount != 3 || p.OfflineCap != 100000 ||
		len(p.NegativeBINs) != 1 || len(p.BINLimits) != 1 || p.BINLimits[0].Limit != 10 {
		t.Fatalf("stand-in %+v", p)
	}
}

func TestPanhash(t *testing.T) {
	key := filepath.Join(t.TempDir(), "card.key")
	k, err := store.WriteNewKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := store.NewVault(k)
	var out strings.Builder
	c := &panhashCommand{in: strings.NewReader("4111111111111111\n\n"), out: &out}
	if err := c.Run(context.Background(), []string{key}); err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(v.Hash("4111111111111111")) + "\n"; out.String() != want || strings.Contains(out.String(), "4111") {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	bad := &panhashCommand{in: strings.NewReader("4111-1111\n"), out: &out}
	if err := bad.Run(context.Background(), []string{key}); err == nil {
		t.Fatal("a malformed line was hashed")
	}
}

// TestTLSConfigRefusals: half a TLS setting is refused, naming what to fix.
func TestTLSConfigRefusals(t *testing.T) {
	for body, want := range map[string]string{
		`"register_tls":{"cert_file":"/c"}`:                                            "cert_file and key_file go together",
		`"register_tls":{"cert_file":"/c","key_file":"/k","require_client_cert":true}`: "require_client_cert needs client_ca_file",
		`"register_tls":{"client_ca_file":"/ca"}`:                                      "need cert_file and key_file",
		`"raft":{"tls":{"ca_file":"/ca","cert_file":"/c"}}`:                            "ca_file, cert_file and key_file go together",
	} {
		path := filepath.Join(t.TempDir(), "n.json")
		os.WriteFile(path, []byte(`{"id":"n1","data_dir":"/d","card_key_file":"/k","acquirer":{"addr":"a:1"},`+body+`}`), 0o600)
		cfg := node.DefaultConfig()
		if err := loadConfig(path, &cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

func TestLoadConfigTLS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	os.WriteFile(path, []byte(`{"id":"n1","data_dir":"/d","card_key_file":"/k",
		"admin_cert_file":"/tls/admin.crt","admin_key_file":"/tls/admin.key",
		"acquirer":{"addr":"a:1","tls":{"ca_file":"/tls/acq-ca.pem"}},
		"acquirers":[{"name":"visa","addr":"v:1","tls":{"ca_file":"/tls/visa-ca.pem","cert_file":"/tls/n1.crt","key_file":"/tls/n1.key","server_name":"host.visa.example"}},
		             {"name":"mc","addr":"m:1"}]}`), 0o600)
	cfg := node.DefaultConfig()
	if err := loadConfig(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.AdminCertFile != "/tls/admin.crt" || cfg.AdminKeyFile != "/tls/admin.key" {
		t.Fatalf("admin TLS %q %q", cfg.AdminCertFile, cfg.AdminKeyFile)
	}
	if cfg.Acquirer.TLS == nil || cfg.Acquirer.TLS.CAFile != "/tls/acq-ca.pem" {
		t.Fatalf("acquirer.tls %+v", cfg.Acquirer.TLS)
	}
	visa := cfg.Acquirers[0].TLS
	if visa == nil || *visa != (tlsconf.Client{CAFile: "/tls/visa-ca.pem", CertFile: "/tls/n1.crt", KeyFile: "/tls/n1.key", ServerName: "host.visa.example"}) {
		t.Fatalf("acquirers[0].tls %+v", visa)
	}
	if cfg.Acquirers[1].TLS != nil {
		t.Fatalf("acquirers[1] without tls got %+v", cfg.Acquirers[1].TLS)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.AdminKeyFile = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "admin_key_file") {
		t.Fatalf("a certificate without a key: %v", err)
	}
}

// The shipped example configs load and validate (files are read at start,
// not here).
func TestDeployConfigs(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "config", "*.json"))
	if len(paths) == 0 {
		t.Fatal("no deploy/config/*.json")
	}
	for _, p := range paths {
		cfg := node.DefaultConfig()
		if err := loadConfig(p, &cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if cfg.AdminCertFile == "" || cfg.Acquirer.TLS == nil {
			t.Fatalf("%s: the example runs the admin API or the acquirer link in clear", p)
		}
		id := cfg.ID
		want := node.RegisterTLSConfig{CertFile: "/etc/tillgate/tls/" + id + ".pem", KeyFile: "/etc/tillgate/tls/" + id + "-key.pem",
			ClientCAFile: "/etc/tillgate/tls/ca.pem", RequireClientCert: true}
		if cfg.RegisterTLS != want || cfg.RaftTLS != (node.RaftTLSConfig{CAFile: want.ClientCAFile, CertFile: want.CertFile, KeyFile: want.KeyFile}) {
			t.Fatalf("%s: register TLS %+v, Raft TLS %+v: the example runs registers or Raft in clear", p, cfg.RegisterTLS, cfg.RaftTLS)
		}
	}
}

// TestLoadConfigLimits: the register listener's hostile-input limits come
// from the file; absent, they stay 0 (the server's defaults).
func TestLoadConfigLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.json")
	os.WriteFile(path, []byte(`{"id":"n1","data_dir":"/d","card_key_file":"/k","acquirer":{"addr":"a:1"},
		"max_conns_per_ip":-1,"max_inflight_per_conn":8,"write_buffer_cap":65536,"accept_rate":500,"accept_burst":900}`), 0o600)
	cfg := node.DefaultConfig()
	if err := loadConfig(path, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnsPerIP != -1 || cfg.MaxInflightPerConn != 8 || cfg.WriteBufferCap != 65536 || cfg.AcceptRate != 500 || cfg.AcceptBurst != 900 {
		t.Fatalf("limits %d %d %d %d %d", cfg.MaxConnsPerIP, cfg.MaxInflightPerConn, cfg.WriteBufferCap, cfg.AcceptRate, cfg.AcceptBurst)
	}
}
