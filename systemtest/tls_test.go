package systemtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// TestRegistersOverTLS runs the demo's --tls cluster (registers over TLS
// with the register certificate required, Raft over mutual TLS, the admin
// API over HTTPS, the acquirer link over TLS): plain TCP
// to every register port is refused without a byte; failover clients with
// the register certificate transact through every node (registers that
// know only a standby are relayed by it: hints are followed to configured
// nodes only); a register that knows only a
// standby and ignores hints is relayed to the active over TLS (the active
// takes the standby's certificate for the node it is, not for a store of
// other terminals, and approves); a client
// without a certificate never gets a request through; and the checker
// finds every invariant held.
func TestRegistersOverTLS(t *testing.T) {
	e := mustStartTLS(t)
	leader, err := e.cl.WaitLeader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The terminals of this test, in the store the register certificate
	// names.
	if err := e.cl.RegisterTerminals(time.Minute,
		store.TerminalRange{From: "F0000500", To: "F0000519", Merchant: "M00000000000002", Store: "demo-store"},
		store.TerminalRange{From: "R0000001", To: "R0000002", Merchant: "M00000000000002", Store: "demo-store"}); err != nil {
		t.Fatal(err)
	}
	codec := wire.NewCodec(wire.DefaultDialect())

	// Plain TCP: not one byte back, the connection closed, and counted.
	signOn, _ := codec.PackFrame(nil, &wire.Message{MTI: wire.MTINetwork, TransmissionTime: wire.TransmissionTime(time.Now()),
		STAN: "000001", TerminalID: "P0000001", NetworkCode: wire.NetSignOn})
	for i, addr := range e.cl.RegisterAddrs() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(signOn)
		_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if len(b) != 0 || err != nil {
			t.Fatalf("%s: a plain TCP register got %q, %v; want nothing and EOF", addr, b, err)
		}
		waitFor(t, e.cl.Configs[i].ID+" counting the plain TCP refusal", func() bool {
			return e.metricValue(i, `tillgate_register_tls_handshake_failures_total{reason="not_tls"}`) == 1
		})
	}

	// A register that ignores hints and knows only a standby: the standby
	// relays it to the active over TLS, with its own node certificate.
	standby := (leader + 1) % 3
	regTLS, err := failover.TLSFiles{CAFile: e.certs.CA, CertFile: e.certs.Register.Cert, KeyFile: e.certs.Register.Key}.Load()
	if err != nil {
		t.Fatal(err)
	}
	// Failover clients over TLS (run below), half of them knowing only a
	// standby; its history records the relayed purchase too.
	f := newFailoverFleetTuned(t, t.TempDir(), 20, 500, func(i int) []string {
		if i%2 == 0 {
			return []string{e.cl.Configs[standby].RegisterAddr}
		}
		return e.cl.RegisterAddrs()
	}, func(c *failover.Config) { c.TLS = regTLS })
	tc, err := tls.Dial("tcp", e.cl.Configs[standby].RegisterAddr, regTLS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	purchase := &wire.Message{MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: 1234, HasAmount: true,
		TransmissionTime: wire.TransmissionTime(now), STAN: "000002", LocalTime: now.Format("150405"), LocalDate: now.Format("0102"),
		Expiry: "3012", POSEntryMode: "051", POSCondition: "00", TerminalID: "R0000001", MerchantID: "M00000000000002", Currency: "978"}
	frame, _ := codec.PackFrame(nil, purchase)
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	invoke := time.Now()
	if _, err := tc.Write(frame); err != nil {
		t.Fatal(err)
	}
	payload, err := wire.NewFrameReader(tc, codec.Dialect(), 0).Next()
	if err != nil {
		t.Fatalf("relayed purchase: %v", err)
	}
	resp, err := codec.Unpack(payload)
	tc.Close()
	if err != nil {
		t.Fatal(err)
	}
	f.hist.Add(history.RequestEvent(purchase, invoke, time.Now(), resp, history.Answered))
	if nd, _ := resp.Private.Get(wire.TagNodeID); resp.ResponseCode != wire.RCApproved || nd != e.cl.Configs[leader].ID {
		t.Fatalf("relayed purchase: RC %q from %q, want 00 from the active %s", resp.ResponseCode, nd, e.cl.Configs[leader].ID)
	}
	if n := e.metricValue(standby, `tillgate_relayed_requests_total{result="answered"}`); n != 1 {
		t.Fatalf("the standby relayed %v requests, want 1", n)
	}

	// Without a client certificate: never through.
	bare := failover.DefaultConfig()
	bare.Nodes = e.cl.RegisterAddrs()
	bare.ReversalQueue = filepath.Join(e.dir, "bare.db")
	bare.Hold, bare.DialTimeout, bare.AttemptTimeout, bare.Deadline = 0, time.Second, time.Second, 2*time.Second
	bare.TLS, _ = failover.TLSFiles{CAFile: e.certs.CA}.Load()
	bc, err := failover.Open(bare)
	if err != nil {
		t.Fatal(err)
	}
	p2 := *purchase
	p2.TerminalID, p2.STAN = "R0000002", "000003"
	if resp, err := bc.Do(context.Background(), &p2); !errors.Is(err, failover.ErrNotSent) {
		t.Fatalf("a register without a certificate: %+v, %v; want not sent", resp, err)
	}
	bc.Close()
	var refused float64
	for i := range e.cl.Configs {
		refused += e.metricValue(i, `tillgate_register_tls_handshake_failures_total{reason="no_client_cert"}`)
	}
	if refused == 0 {
		t.Fatal("no node counted a handshake without a client certificate")
	}

	// Failover clients over TLS, half of them knowing only a standby.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	f.run(ctx, 500, 10*time.Millisecond)
	cancel()
	answered := 0
	for _, r := range f.results {
		if r.Unknown || r.NotSent {
			t.Errorf("%s: no answer over TLS in a run without faults (unknown %v)", r.Key, r.Unknown)
		}
		if r.RC != "" {
			answered++
		}
	}
	if answered < 100 || f.approved.Load() == 0 {
		t.Fatalf("%d answered, %d approved over TLS", answered, f.approved.Load())
	}
	e.waitQuiet(time.Minute)
	judge(t, e.admins(), judged{history: f.hist, ledger: ledgerOf(e.sim)})
	// The standbys' relay links, dialled ahead of any request, echo before
	// the active's first-frame deadline closes them.
	if n := e.metricValue(leader, `tillgate_register_connections_deadline_closed_total{phase="first_frame"}`); n != 0 {
		t.Errorf("the active closed %v connections for no first frame", n)
	}
}

// metricValue scrapes node i's /metrics (over HTTPS in a TLS cluster) for
// one series ("name{labels}" as the exposition writes it); 0 when absent.
func (e *env) metricValue(i int, series string) float64 {
	e.t.Helper()
	url, client := "http://"+e.cl.Configs[i].AdminAddr+"/metrics", http.DefaultClient
	if e.certs != nil {
		tc, err := localcluster.AdminTLS(e.certs)
		if err != nil {
			e.t.Fatal(err)
		}
		url, client = "https://"+e.cl.Configs[i].AdminAddr+"/metrics", &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	resp, err := client.Get(url)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				e.t.Fatalf("%s: %q: %v", series, line, err)
			}
			return f
		}
	}
	return 0
}
