package sim

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/wire"
)

// mustTLSSim serves TLS with a certificate of a new CA for 127.0.0.1; it
// requires client certificates of that CA when clientAuth.
func mustTLSSim(t *testing.T, clientAuth bool, handshake time.Duration) (*Sim, *pki.CA) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("acquirer CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssueFiles(dir, "acquirer", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := tlsconf.Server{CertFile: cert, KeyFile: key}
	if clientAuth {
		if srv.ClientCAFile, err = ca.WriteFile(dir, "ca"); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := srv.Config()
	if err != nil {
		t.Fatal(err)
	}
	return mustOpen(t, Config{TLS: tc, HandshakeTimeout: handshake}), ca
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoOver sends an 0800 on c and reads the answer's MTI.
func echoOver(t *testing.T, c net.Conn) (string, error) {
	t.Helper()
	codec := wire.NewCodec(wire.DefaultDialect())
	frame, err := codec.PackFrame(nil, &wire.Message{MTI: "0800", TransmissionTime: testDE7, STAN: "000001", NetworkCode: wire.NetEcho})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(frame); err != nil {
		return "", err
	}
	payload, err := wire.NewFrameReader(c, wire.DefaultDialect(), 4096).Next()
	if err != nil {
		return "", err
	}
	m, err := codec.Unpack(payload)
	if err != nil {
		t.Fatal(err)
	}
	return m.MTI, nil
}

func TestTLSClientCertificates(t *testing.T) {
	s, ca := mustTLSSim(t, true, 0)
	leaf, err := ca.Issue("node1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := leaf.TLS()
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if mti, err := echoOver(t, c); err != nil || mti != "0810" {
		t.Fatalf("echo with a client certificate: %q, %v; want 0810", mti, err)
	}

	bare, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err) // TLS 1.3: the client's side finishes; the refusal comes on the first read
	}
	defer bare.Close()
	if mti, err := echoOver(t, bare); err == nil {
		t.Fatalf("echo without a client certificate answered %s", mti)
	}
	waitUntil(t, "the refusal counted", func() bool { return s.Stats().TLSRefused == 1 })
	if st := s.Stats(); st.Echoes != 1 {
		t.Fatalf("echoes answered %d, want 1 (the certified client's)", st.Echoes)
	}
}

// A connection that never starts a handshake is closed after the
// handshake timeout, and counted.
func TestTLSSilentClientClosed(t *testing.T) {
	s, _ := mustTLSSim(t, false, 100*time.Millisecond)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on a silent connection: %v, want EOF (closed by the host)", err)
	}
	// The handshake's timeout closes the connection before the host's
	// handshake call returns and counts it.
	waitUntil(t, "the refusal counted, the connection untracked", func() bool {
		st := s.Stats()
		return st.TLSRefused == 1 && st.Conns == 0
	})
}
