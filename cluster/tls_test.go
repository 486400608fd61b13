package cluster_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/internal/pki"
)

// tlsFor returns a tune that gives every node a certificate of ca for
// 127.0.0.1 and the cluster CA.
func tlsFor(t *testing.T, ca *pki.CA) func(*cluster.Config) {
	return func(c *cluster.Config) {
		leaf, err := ca.Issue(c.ID, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		cert, err := leaf.TLS()
		if err != nil {
			t.Fatal(err)
		}
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool(), ClientCAs: ca.Pool()}
	}
}

// TestRaftOverMutualTLS: three voters elect and replicate over mutual TLS.
func TestRaftOverMutualTLS(t *testing.T) {
	ca, err := pki.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	tc := newTestCluster(t, 3, tlsFor(t, ca))
	l := tc.waitLeader()
	applyN(t, l.c, "tls", 20)
	tc.waitConverged(l.sm.Entries())
}

// TestRaftTLSRefusesStrangers: whoever reaches a node's Raft port without a
// certificate of the cluster's CA gets a refused handshake: plain bytes,
// a TLS client without a certificate, and one with another CA's.
func TestRaftTLSRefusesStrangers(t *testing.T) {
	ca, err := pki.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	tc := newTestCluster(t, 1, tlsFor(t, ca))
	l := tc.waitLeader()
	addr := l.cfg.BindAddr
	before := len(l.sm.Entries())

	other, err := pki.NewCA("impostor")
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Issue("n9", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	forgedCert, _ := forged.TLS()
	member, err := ca.Issue("n9", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	memberCert, _ := member.TLS()
	if err := refusedTLS(t, addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{memberCert}}); err != nil {
		t.Fatalf("a certificate of the cluster CA was refused: %v", err)
	}
	for name, cfg := range map[string]*tls.Config{
		"no certificate":     {RootCAs: ca.Pool()},
		"another CA's":       {RootCAs: ca.Pool(), Certificates: []tls.Certificate{forgedCert}},
		"no CA check at all": {InsecureSkipVerify: true, Certificates: []tls.Certificate{forgedCert}},
	} {
		if refusedTLS(t, addr, cfg) == nil {
			t.Errorf("%s: handshake and a read succeeded", name)
		}
	}
	// Plain TCP: raft's RPC bytes never get past the handshake.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte{0, 0x81, 0xa4, 'T', 'e', 'r', 'm', 0x05}) // the start of an AppendEntries
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.ReadAll(c); err != nil && !isClosed(err) {
		t.Errorf("plain TCP: %v, want the connection closed", err)
	}
	if after := len(l.sm.Entries()); after != before {
		t.Fatalf("entries %d -> %d: a stranger's bytes reached the log", before, after)
	}
}

// refusedTLS handshakes with cfg and reads once; it returns the error
// (nil if the server took the connection).
func refusedTLS(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	// TLS 1.3: the server checks the client's certificate after the
	// client's handshake returns; its alert arrives on the first read.
	// A server that took the connection waits for an RPC: the read times
	// out.
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if err == nil || !isClosed(err) {
		return nil
	}
	return fmt.Errorf("read: %w", err)
}

func isClosed(err error) bool {
	ne, ok := err.(net.Error)
	return !ok || !ne.Timeout()
}
