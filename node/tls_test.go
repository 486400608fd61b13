package node_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// tlsFiles are a CA, certificates it issued for 127.0.0.1 (the acquirer
// host, a node's admin API) and a node's client certificate; and the
// certificate of a CA that issued none of them.
type tlsFiles struct {
	ca, otherCA       string
	hostCert, hostKey string
	nodeCert, nodeKey string
}

func newTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	var f tlsFiles
	ca, err := pki.NewCA("test CA")
	if err == nil {
		f.ca, err = ca.WriteFile(dir, "ca")
	}
	if err == nil {
		f.hostCert, f.hostKey, err = ca.IssueFiles(dir, "host", "127.0.0.1", "localhost")
	}
	if err == nil {
		f.nodeCert, f.nodeKey, err = ca.IssueFiles(dir, "node1")
	}
	var other *pki.CA
	if err == nil {
		other, err = pki.NewCA("other CA")
	}
	if err == nil {
		f.otherCA, err = other.WriteFile(dir, "other")
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// tlsAcquirerCluster starts a TLS acqsim that requires client
// certificates of f's CA and a one-node cluster whose acquirer link is
// set by link.
func tlsAcquirerCluster(t *testing.T, f tlsFiles, link tlsconf.Client, tune func(*node.Config)) (*localcluster.Cluster, *sim.Sim) {
	t.Helper()
	dir := t.TempDir()
	tc, err := tlsconf.Server{CertFile: f.hostCert, KeyFile: f.hostKey, ClientCAFile: f.ca}.Config()
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect(), TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, Nodes: 1, AcquirerAddr: s.Addr(), Tune: func(c *node.Config) {
		c.Acquirer.TLS = &link
		if tune != nil {
			tune(c)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	registerTestTerminals(t, cl)
	return cl, s
}

func TestAcquirerLinkTLS(t *testing.T) {
	f := newTLSFiles(t)
	cl, s := tlsAcquirerCluster(t, f, tlsconf.Client{CAFile: f.ca, CertFile: f.nodeCert, KeyFile: f.nodeKey}, nil)
	c := dial(t, cl.Configs[0].RegisterAddr)
	if resp := c.roundTrip(purchase(1000)); resp.ResponseCode != wire.RCApproved {
		t.Fatalf("purchase over a TLS acquirer link: RC %s, want 00", resp.ResponseCode)
	}
	recs, err := s.Ledger()
	if err != nil || len(recs) != 1 {
		t.Fatalf("acquirer ledger %d records, %v; want the purchase", len(recs), err)
	}
}

// A node whose acquirer CA is wrong never reaches the acquirer: its
// requests are declined as for an acquirer out of reach, and the refusal
// is counted by reason on /metrics.
func TestAcquirerLinkTLSWrongCA(t *testing.T) {
	f := newTLSFiles(t)
	cl, s := tlsAcquirerCluster(t, f, tlsconf.Client{CAFile: f.otherCA, CertFile: f.nodeCert, KeyFile: f.nodeKey}, nil)
	admin := adminapi.NewClient(cl.Configs[0].AdminAddr)
	const series = `tillgate_acquirer_link_tls_failures_total{acquirer="acquirer",reason="unknown_authority"} `
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		b, err := admin.Metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(string(b), series)
		if i >= 0 && !strings.HasPrefix(string(b[i+len(series):]), "0\n") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no %s> 0 on /metrics", series)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := dial(t, cl.Configs[0].RegisterAddr)
	if resp := c.roundTrip(purchase(1000)); resp.ResponseCode == wire.RCApproved {
		t.Fatal("purchase approved without an acquirer link")
	}
	if st := s.Stats(); st.Requests != 0 || st.TLSRefused == 0 {
		t.Fatalf("acquirer stats %+v: want no request and a refused handshake", st)
	}
}

func TestAdminHTTPS(t *testing.T) {
	f := newTLSFiles(t)
	cl := adminCluster(t, 1, func(c *node.Config) {
		c.AdminCertFile, c.AdminKeyFile, c.AdminToken = f.hostCert, f.hostKey, "s3cret"
	})
	addr := cl.Configs[0].AdminAddr
	ctx := context.Background()

	tc, err := adminapi.TLSConfig(f.ca)
	if err != nil {
		t.Fatal(err)
	}
	good := adminapi.NewTLSClient(addr, tc)
	good.Token = "s3cret"
	if !strings.HasPrefix(good.Base, "https://") {
		t.Fatalf("base %q, want https://", good.Base)
	}
	if st, err := good.Status(ctx); err != nil || st.ID != cl.Configs[0].ID {
		t.Fatalf("status over HTTPS: %+v, %v", st, err)
	}

	plain := adminapi.NewClient(addr)
	plain.Token = "s3cret"
	_, err = plain.Status(ctx)
	var ae *adminapi.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || !strings.Contains(err.Error(), "use an https:// address") {
		t.Fatalf("plain HTTP to the HTTPS admin API: %v, want a 400 saying to use https", err)
	}

	otc, err := adminapi.TLSConfig(f.otherCA)
	if err != nil {
		t.Fatal(err)
	}
	_, err = adminapi.NewTLSClient(addr, otc).Status(ctx)
	var ue *adminapi.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "check --cacert") {
		t.Fatalf("a client trusting another CA: %v, want an error saying to check --cacert", err)
	}

	named := tc.Clone()
	named.ServerName = "node9.example"
	_, err = adminapi.NewTLSClient(addr, named).Status(ctx)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "not for this address") {
		t.Fatalf("a name the certificate does not carry: %v, want an error saying so", err)
	}
}

// The admin API's certificate files are read at start: a missing one
// stops the node with the setting to fix.
func TestAdminHTTPSBadFiles(t *testing.T) {
	f := newTLSFiles(t)
	dir := t.TempDir()
	_, err := localcluster.Start(localcluster.Options{Dir: dir, Nodes: 1, AcquirerAddr: "127.0.0.1:1", Tune: func(c *node.Config) {
		c.AdminCertFile, c.AdminKeyFile = f.hostCert, filepath.Join(dir, "missing.key")
	}})
	if err == nil || !strings.Contains(err.Error(), "admin_cert_file, admin_key_file") {
		t.Fatalf("start with a missing admin key: %v, want an error naming admin_key_file", err)
	}
}
