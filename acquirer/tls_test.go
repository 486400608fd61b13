package acquirer

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/internal/tlsconf"
)

// testPKI is a CA, the acquirer host's certificate (127.0.0.1 and
// localhost) and a node's client certificate, as files; and a second CA
// that issued neither.
type testPKI struct {
	caFile, otherCAFile       string
	hostCert, hostKey         string
	nodeCert, nodeKey         string
	strangerCert, strangerKey string // a client certificate of the other CA
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("acquirer CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("someone else")
	if err != nil {
		t.Fatal(err)
	}
	var p testPKI
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p.caFile, err = ca.WriteFile(dir, "ca")
	must(err)
	p.otherCAFile, err = other.WriteFile(dir, "other-ca")
	must(err)
	p.hostCert, p.hostKey, err = ca.IssueFiles(dir, "acquirer", "127.0.0.1", "localhost")
	must(err)
	p.nodeCert, p.nodeKey, err = ca.IssueFiles(dir, "node1")
	must(err)
	p.strangerCert, p.strangerKey, err = other.IssueFiles(dir, "stranger")
	must(err)
	return p
}

// startTLSSim serves TLS with the host certificate; clientCA, if set,
// requires client certificates of that CA.
func startTLSSim(t *testing.T, p testPKI, clientCA string) *sim.Sim {
	t.Helper()
	tc, err := tlsconf.Server{CertFile: p.hostCert, KeyFile: p.hostKey, ClientCAFile: clientCA}.Config()
	if err != nil {
		t.Fatal(err)
	}
	return startSim(t, sim.Config{TLS: tc})
}

// logBuffer collects a link's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// openRefusedLink opens a link that is expected never to connect, and
// waits until it counted a TLS failure of reason.
func openRefusedLink(t *testing.T, addr string, reason string, edit func(*Config)) (*Link, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg := DefaultConfig()
	cfg.Name, cfg.Addr, cfg.Conns, cfg.Timeout = "visa", addr, 1, 2*time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	edit(&cfg)
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	waitFor(t, "a TLS failure "+reason, func() bool { return l.Stats().TLSFailures[reason] > 0 })
	waitFor(t, "the failure logged", func() bool { return strings.Contains(logs.String(), "TLS failed") })
	return l, logs
}

func TestLinkTLS(t *testing.T) {
	p := newTestPKI(t)
	s := startTLSSim(t, p, p.caFile)
	l := openLink(t, s.Addr(), func(c *Config) {
		c.TLS = &tlsconf.Client{CAFile: p.caFile, CertFile: p.nodeCert, KeyFile: p.nodeKey}
		// One connection: the one the link is healthy on is the one
		// inspected below (with several, a slow box had slot 0 still
		// dialing: nil).
		c.Conns = 1
	})
	resp := mustSend(t, l, purchase(stan(1), 1000))
	if resp.ResponseCode != "00" {
		t.Fatalf("RC %q, want 00", resp.ResponseCode)
	}
	tc, ok := l.slots[0].Load().nc.(*tls.Conn)
	if !ok {
		t.Fatalf("connection is %T, want *tls.Conn", l.slots[0].Load().nc)
	}
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("TLS version %s, want TLS 1.3", tls.VersionName(v))
	}
	if st := l.Stats(); st.TLSFailures[tlsconf.ReasonUnknownAuthority] != 0 || len(st.TLSFailures) != len(tlsconf.Reasons) {
		t.Fatalf("TLS failures %v, want every reason at 0", st.TLSFailures)
	}
	if got := mustTotals(t, s)["purchase"].Count; got != 1 {
		t.Fatalf("acquirer recorded %d purchases, want 1", got)
	}
}

// TLS 1.2 is still accepted (a host that has not moved to 1.3), with the
// modern suites only.
func TestLinkTLS12(t *testing.T) {
	p := newTestPKI(t)
	tc, err := tlsconf.Server{CertFile: p.hostCert, KeyFile: p.hostKey}.Config()
	if err != nil {
		t.Fatal(err)
	}
	tc.MaxVersion = tls.VersionTLS12
	s := startSim(t, sim.Config{TLS: tc})
	l := openLink(t, s.Addr(), func(c *Config) { c.TLS, c.Conns = &tlsconf.Client{CAFile: p.caFile}, 1 })
	if resp := mustSend(t, l, purchase(stan(1), 1000)); resp.ResponseCode != "00" {
		t.Fatalf("RC %q, want 00", resp.ResponseCode)
	}
	cs := l.slots[0].Load().nc.(*tls.Conn).ConnectionState()
	if cs.Version != tls.VersionTLS12 || !strings.Contains(tls.CipherSuiteName(cs.CipherSuite), "ECDHE") ||
		strings.Contains(tls.CipherSuiteName(cs.CipherSuite), "CBC") {
		t.Fatalf("negotiated %s %s, want TLS 1.2 with an ECDHE AEAD suite", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
	}
}

func TestLinkTLSRefusals(t *testing.T) {
	p := newTestPKI(t)
	s := startTLSSim(t, p, p.caFile)
	cases := []struct {
		name, reason, hint string
		tls                tlsconf.Client
	}{
		{"wrong CA", tlsconf.ReasonUnknownAuthority, "x509: certificate signed by unknown authority: check ca_file",
			tlsconf.Client{CAFile: p.otherCAFile, CertFile: p.nodeCert, KeyFile: p.nodeKey}},
		{"wrong server name", tlsconf.ReasonServerName, "check server_name",
			tlsconf.Client{CAFile: p.caFile, CertFile: p.nodeCert, KeyFile: p.nodeKey, ServerName: "acquirer.example"}},
		{"no client certificate", tlsconf.ReasonPeerRefused, "check cert_file and key_file",
			tlsconf.Client{CAFile: p.caFile}},
		{"client certificate of another CA", tlsconf.ReasonPeerRefused, "check cert_file and key_file",
			tlsconf.Client{CAFile: p.caFile, CertFile: p.strangerCert, KeyFile: p.strangerKey}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, logs := openRefusedLink(t, s.Addr(), tc.reason, func(c *Config) { c.TLS = &tc.tls })
			want := "acquirer visa: TLS handshake with " + s.Addr() + ": "
			if out := logs.String(); !strings.Contains(out, want) || !strings.Contains(out, tc.hint) {
				t.Fatalf("log %q\nwant %q ... %q", out, want, tc.hint)
			}
			// With TLS 1.3 a host refuses a client certificate just after
			// the handshake: a Send in that moment finds the connection
			// and loses it (ErrConnLost). Any other time it is refused at
			// once, saying why.
			var err error
			for i := 1; i <= 20; i++ {
				_, err = l.Send(t.Context(), purchase(stan(i), 1000))
				if err == nil {
					t.Fatal("a refused link sent a request")
				}
				if errors.Is(err, ErrUnavailable) {
					break
				}
			}
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tc.hint) {
				t.Fatalf("Send on a refused link: %v, want ErrUnavailable saying %q", err, tc.hint)
			}
		})
	}
	waitFor(t, "the host counting the refusals", func() bool { return s.Stats().TLSRefused >= int64(len(cases)) })
	if got := mustTotals(t, s)["purchase"].Count; got != 0 {
		t.Fatalf("acquirer recorded %d purchases over refused links, want 0", got)
	}
}

// A plain client reaches nothing on a TLS host: its frame is not a TLS
// record, the host closes the connection without reading a request.
func TestPlainLinkToTLSSim(t *testing.T) {
	p := newTestPKI(t)
	s := startTLSSim(t, p, "")
	cfg := DefaultConfig()
	cfg.Addr, cfg.Conns, cfg.Timeout = s.Addr(), 1, 2*time.Second
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Send(t.Context(), purchase(stan(1), 1000)); err == nil {
		t.Fatal("a plain request to a TLS host was answered")
	}
	waitFor(t, "the host refusing the plain client", func() bool { return s.Stats().TLSRefused > 0 })
	if st := s.Stats(); st.Requests != 0 {
		t.Fatalf("the host read %d requests from a plain client, want 0", st.Requests)
	}
}

// A TLS link to a plain host: the host takes the ClientHello for a frame
// and closes; the link says the host does not seem to speak TLS.
func TestTLSLinkToPlainSim(t *testing.T) {
	p := newTestPKI(t)
	s := startSim(t, sim.Config{})
	_, logs := openRefusedLink(t, s.Addr(), tlsconf.ReasonClosed, func(c *Config) {
		c.TLS = &tlsconf.Client{CAFile: p.caFile}
	})
	if !strings.Contains(logs.String(), "does it speak TLS") {
		t.Fatalf("log %q does not say the host may not speak TLS", logs.String())
	}
}

// A host that accepts and never answers the ClientHello holds a
// connection attempt no longer than the dial timeout.
func TestLinkTLSHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	p := newTestPKI(t)
	l, _ := openRefusedLink(t, ln.Addr().String(), tlsconf.ReasonTimeout, func(c *Config) {
		c.TLS = &tlsconf.Client{CAFile: p.caFile}
		c.DialTimeout = 200 * time.Millisecond
	})
	if l.Healthy() {
		t.Fatal("link healthy without a handshake")
	}
}

func TestLinkTLSConfigErrors(t *testing.T) {
	p := newTestPKI(t)
	for name, c := range map[string]tlsconf.Client{
		"ca_file: open":      {CAFile: p.caFile + ".missing"},
		"no PEM certificate": {CAFile: p.hostKey},
		"give both":          {CAFile: p.caFile, CertFile: p.nodeCert},
	} {
		cfg := DefaultConfig()
		cfg.Name, cfg.Addr, cfg.TLS = "visa", "127.0.0.1:1", &c
		l, err := Open(cfg)
		if err == nil {
			l.Close()
			t.Fatalf("%s: Open accepted %+v", name, c)
		}
		if !strings.HasPrefix(err.Error(), "acquirer visa: tls: ") || !strings.Contains(err.Error(), name) {
			t.Fatalf("error %q, want it to start with the acquirer and say %q", err, name)
		}
		if errors.Is(err, ErrUnavailable) {
			t.Fatalf("config error %v wraps ErrUnavailable", err)
		}
	}
}
