package tlsconf_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/internal/tlsconf"
)

// handshake runs a real handshake over a pipe; it returns both sides'
// errors (the client's first).
func handshake(t *testing.T, srv, cli *tls.Config) (error, error, tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s := tls.Server(a, srv)
	done := make(chan error, 1)
	go func() {
		err := s.Handshake()
		if err == nil {
			// TLS 1.3: the server checks the client's certificate after
			// the client's side is done; a read surfaces the outcome.
			_, err = s.Read(make([]byte, 1))
		}
		a.Close()
		done <- err
	}()
	c := tls.Client(b, cli)
	cerr := c.Handshake()
	if cerr == nil {
		_, cerr = c.Write([]byte{1})
	}
	serr := <-done
	if cerr == nil && serr != nil {
		_, cerr = c.Read(make([]byte, 1))
	}
	return cerr, serr, c.ConnectionState()
}

func files(t *testing.T) (caFile, cert, key string, ca *pki.CA) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("test")
	if err == nil {
		caFile, err = ca.WriteFile(dir, "ca")
	}
	if err == nil {
		cert, key, err = ca.IssueFiles(dir, "server", "127.0.0.1", "host.example")
	}
	if err != nil {
		t.Fatal(err)
	}
	return caFile, cert, key, ca
}

func TestPolicy(t *testing.T) {
	caFile, cert, key, _ := files(t)
	srv, err := tlsconf.Server{CertFile: cert, KeyFile: key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := tlsconf.Client{CAFile: caFile, ServerName: "host.example"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	cerr, serr, cs := handshake(t, srv, cli)
	if cerr != nil || serr != nil || cs.Version != tls.VersionTLS13 {
		t.Fatalf("client %v, server %v, version %s; want TLS 1.3", cerr, serr, tls.VersionName(cs.Version))
	}

	// An old client (TLS 1.1) and a TLS 1.2 client offering only CBC
	// suites are refused.
	old := cli.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, serr, _ := handshake(t, srv, old); serr == nil {
		t.Fatal("a TLS 1.1 client was accepted")
	}
	cbc := cli.Clone()
	cbc.MaxVersion = tls.VersionTLS12
	cbc.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	if _, serr, _ := handshake(t, srv, cbc); serr == nil || !strings.Contains(serr.Error(), "cipher") {
		t.Fatalf("a CBC-only TLS 1.2 client: %v, want a refusal for its cipher suites", serr)
	}
}

func TestClientCertificateRequired(t *testing.T) {
	caFile, cert, key, _ := files(t)
	srv, err := tlsconf.Server{CertFile: cert, KeyFile: key, ClientCAFile: caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if srv.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("client auth %v with a client CA", srv.ClientAuth)
	}
	bare, _ := tlsconf.Client{CAFile: caFile, ServerName: "host.example"}.Config()
	cerr, serr, _ := handshake(t, srv, bare)
	if serr == nil || cerr == nil || tlsconf.Reason(cerr) != tlsconf.ReasonPeerRefused {
		t.Fatalf("no client certificate: client %v (%s), server %v", cerr, tlsconf.Reason(cerr), serr)
	}
	withCert, err := tlsconf.Client{CAFile: caFile, ServerName: "host.example", CertFile: cert, KeyFile: key}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cerr, serr, _ := handshake(t, srv, withCert); cerr != nil || serr != nil {
		t.Fatalf("with a client certificate: client %v, server %v", cerr, serr)
	}
}

func TestReasons(t *testing.T) {
	caFile, cert, key, _ := files(t)
	_, _, _, other := files(t)
	srv, _ := tlsconf.Server{CertFile: cert, KeyFile: key}.Config()
	cli, _ := tlsconf.Client{CAFile: caFile, ServerName: "host.example"}.Config()
	wrongCA := cli.Clone()
	wrongCA.RootCAs = other.Pool()
	wrongName := cli.Clone()
	wrongName.ServerName = "elsewhere.example"
	for want, c := range map[string]*tls.Config{
		tlsconf.ReasonUnknownAuthority: wrongCA,
		tlsconf.ReasonServerName:       wrongName,
	} {
		cerr, serr, _ := handshake(t, srv, c)
		if got := tlsconf.Reason(cerr); got != want {
			t.Errorf("client error %v: reason %s, want %s", cerr, got, want)
		}
		if got := tlsconf.Reason(serr); got != tlsconf.ReasonPeerRefused {
			t.Errorf("server error %v: reason %s, want %s", serr, got, tlsconf.ReasonPeerRefused)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	caFile, cert, key, _ := files(t)
	for want, fn := range map[string]func() error{
		"ca_file":         func() error { _, err := tlsconf.Client{CAFile: caFile + "x"}.Config(); return err },
		"no PEM":          func() error { _, err := tlsconf.Client{CAFile: key}.Config(); return err },
		"both or neither": func() error { _, err := tlsconf.Client{KeyFile: key}.Config(); return err },
		"needs both":      func() error { _, err := tlsconf.Server{CertFile: cert}.Config(); return err },
		"cert_file":       func() error { _, err := tlsconf.Server{CertFile: key, KeyFile: key}.Config(); return err },
		"ca_file: open": func() error {
			_, err := tlsconf.Server{CertFile: cert, KeyFile: key, ClientCAFile: "/nonexistent"}.Config()
			return err
		},
	} {
		if err := fn(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error saying %q, got %v", want, err)
		}
	}
}
