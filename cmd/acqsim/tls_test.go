package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/internal/tlsconf"
)

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("acquirer CA")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteFile(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssueFiles(dir, "acqsim", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	nodeCert, nodeKey, err := ca.IssueFiles(dir, "node1")
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t, t.TempDir(), "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", caFile)

	cfg := acquirer.DefaultConfig()
	cfg.Addr, cfg.Conns = s.iso, 1
	cfg.TLS = &tlsconf.Client{CAFile: caFile, CertFile: nodeCert, KeyFile: nodeKey}
	l, err := acquirer.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := l.Send(ctx, purchase("000001", 1000))
	if err != nil || resp.ResponseCode != "00" {
		t.Fatalf("purchase over TLS: %v, %v", resp, err)
	}

	// Without the client certificate: refused, and counted by acqsim.
	cfg.TLS = &tlsconf.Client{CAFile: caFile}
	bare, err := acquirer.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	for bare.Stats().TLSFailures[tlsconf.ReasonPeerRefused] == 0 {
		if ctx.Err() != nil {
			t.Fatal("no refusal of a client without a certificate")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var st sim.Stats
	getJSON(t, "http://"+s.admin+"/stats", &st)
	if st.TLSRefused == 0 || st.Requests != 1 {
		t.Fatalf("acqsim stats %+v: want a TLS refusal and 1 request", st)
	}
}

func TestServeTLSFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--tls-client-ca", "ca.pem"},
		{"--tls-cert", "missing.crt", "--tls-key", "missing.key"},
		{"--tls-cert", "only.crt"},
	} {
		cmd := &serveCommand{}
		err := cmd.Run(context.Background(), append([]string{"--data", t.TempDir(), "--admin", "", "--listen", "127.0.0.1:0"}, args...))
		if err == nil || !strings.Contains(err.Error(), "--tls") && !errors.Is(err, errUsage) {
			t.Fatalf("%v: %v, want an error naming the TLS flags", args, err)
		}
	}
}
