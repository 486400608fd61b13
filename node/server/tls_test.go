package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/node/internal/peer"
	"github.com/tillgate/tillgate/wire"
)

// fakePipeline answers every request approved, echoing its identity, and
// hands the sender's identity to seen.
// A request from terminal heldTerminal waits for hold to close, if hold is
// set.
type fakePipeline struct {
	seen chan peer.Identity
	hold chan struct{}
}

const heldTerminal = "T0000666"

func (f *fakePipeline) Handle(ctx context.Context, req *wire.Message) *wire.Message {
	if f.hold != nil && req.TerminalID == heldTerminal {
		<-f.hold
	}
	id, _ := peer.From(ctx)
	select {
	case f.seen <- id:
	default:
	}
	return &wire.Message{MTI: wire.ResponseMTI(req.MTI), TransmissionTime: req.TransmissionTime, STAN: req.STAN,
		TerminalID: req.TerminalID, NetworkCode: req.NetworkCode, ResponseCode: wire.RCApproved}
}

func (f *fakePipeline) Refuse(req *wire.Message, rc string) *wire.Message {
	return &wire.Message{MTI: wire.ResponseMTI(req.MTI), STAN: req.STAN, ResponseCode: rc}
}

// certs is a CA, the node's certificate and a register's (CN demo-store).
type certs struct {
	ca                *pki.CA
	node, register    tls.Certificate
	nodeLeaf, regLeaf pki.Leaf
}

func newCerts(t testing.TB) certs {
	t.Helper()
	ca, err := pki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	c := certs{ca: ca}
	if c.nodeLeaf, err = ca.Issue("node1", "127.0.0.1", "localhost"); err != nil {
		t.Fatal(err)
	}
	if c.regLeaf, err = ca.Issue("demo-store"); err != nil {
		t.Fatal(err)
	}
	c.node, _ = c.nodeLeaf.TLS()
	c.register, _ = c.regLeaf.TLS()
	return c
}

// serverTLS is the listener's config as TLSFiles.Load makes it.
func (c certs) serverTLS(t testing.TB, require bool) *tls.Config {
	t.Helper()
	dir := t.TempDir()
	cf, kf, err := c.nodeLeaf.WriteFiles(dir, "node1")
	if err != nil {
		t.Fatal(err)
	}
	caf := dir + "/ca.pem"
	if err := writeFile(caf, c.ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	cfg, err := TLSFiles{CertFile: cf, KeyFile: kf, ClientCAFile: caf, RequireClientCert: require}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (c certs) client(withCert bool) *tls.Config {
	cfg := &tls.Config{RootCAs: c.ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if withCert {
		cfg.Certificates = []tls.Certificate{c.register}
	}
	return cfg
}

type testServer struct {
	*Server
	reg  *prometheus.Registry
	pipe *fakePipeline
}

func startServer(t testing.TB, tune func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{reg: prometheus.NewRegistry(), pipe: &fakePipeline{seen: make(chan peer.Identity, 16)}}
	cfg := Config{
		Addr: "127.0.0.1:0", Codec: wire.NewCodec(wire.DefaultDialect()), MaxConns: 100, IdleTimeout: time.Minute,
		RequestTimeout: 5 * time.Second, Handler: ts.pipe, Refuser: ts.pipe, Fail: func(err error) { t.Error(err) },
		Logger: slog.New(slog.DiscardHandler), Registerer: ts.reg,
	}
	if tune != nil {
		tune(&cfg)
	}
	if cfg.TLS == nil && cfg.Addr == "127.0.0.1:0" {
		cfg.Addr = freeAddr(t) // gnet does not report the port it bound
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	ts.Server = s
	return ts
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var signOn = &wire.Message{MTI: wire.MTINetwork, TransmissionTime: "1203123456", STAN: "000042", TerminalID: "T0000001", NetworkCode: wire.NetSignOn}

func frameOf(t testing.TB, m *wire.Message) []byte {
	t.Helper()
	b, err := wire.NewCodec(wire.DefaultDialect()).PackFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip writes frame and returns the bytes of the answer's frame.
func roundTrip(t testing.TB, c net.Conn, frame []byte) []byte {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	body := make([]byte, int(hdr[0])<<8|int(hdr[1]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return append(hdr[:], body...)
}

// closedByServer reads until the server closes c and returns the bytes it
// sent and the error the read ended with.
func closedByServer(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server did not close the connection")
	}
	return b, err
}

// TestTLSAnswersAsGNet: the same request gets the same bytes over TLS as
// over gnet, and the pipeline learns who sent it: the address always, and
// over TLS the store a verified client certificate names.
func TestTLSAnswersAsGNet(t *testing.T) {
	c := newCerts(t)
	plain := startServer(t, nil)
	secure := startServer(t, func(cfg *Config) { cfg.TLS = c.serverTLS(t, true) })

	pc, err := net.Dial("tcp", plain.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tc, err := tls.Dial("tcp", secure.Addr(), c.client(true))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if v := tc.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %x, want TLS 1.3", v)
	}
	frame := frameOf(t, signOn)
	want := roundTrip(t, pc, frame)
	if got := roundTrip(t, tc, frame); !bytes.Equal(got, want) {
		t.Fatalf("TLS answer %x\ngnet answer %x", got, want)
	}
	if id := <-plain.pipe.seen; id != (peer.Identity{Addr: pc.LocalAddr().String()}) {
		t.Errorf("gnet: pipeline saw %+v", id)
	}
	if id := <-secure.pipe.seen; id != (peer.Identity{Addr: tc.LocalAddr().String(), TLS: true, Store: "demo-store"}) {
		t.Errorf("TLS: pipeline saw %+v", id)
	}
	// A second request on the same connection, and a TLS 1.2 client.
	if got := roundTrip(t, tc, frame); !bytes.Equal(got, want) {
		t.Fatalf("second answer %x", got)
	}
	old := c.client(true)
	old.MaxVersion = tls.VersionTLS12
	tc12, err := tls.Dial("tcp", secure.Addr(), old)
	if err != nil {
		t.Fatal(err)
	}
	defer tc12.Close()
	if got := roundTrip(t, tc12, frame); !bytes.Equal(got, want) {
		t.Fatalf("TLS 1.2 answer %x", got)
	}
}

// TestTLSRefusesPlainTCP: a register speaking plain ISO 8583 to a TLS port
// gets not one byte back, its connection is closed, and the refusal is
// counted.
func TestTLSRefusesPlainTCP(t *testing.T) {
	c := newCerts(t)
	s := startServer(t, func(cfg *Config) { cfg.TLS = c.serverTLS(t, true) })
	pc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.Write(frameOf(t, signOn)); err != nil {
		t.Fatal(err)
	}
	b, err := closedByServer(t, pc)
	if len(b) != 0 || err != nil {
		t.Fatalf("plain client got %q, %v; want nothing and EOF", b, err)
	}
	waitCount(t, s.metrics.handshakeFailures.WithLabelValues("not_tls"), 1)
}

// TestTLSRequiresClientCert: without a certificate, or with another CA's,
// the handshake fails (the register learns why: certificate required, or
// unknown authority) before a frame is read.
func TestTLSRequiresClientCert(t *testing.T) {
	c := newCerts(t)
	s := startServer(t, func(cfg *Config) { cfg.TLS = c.serverTLS(t, true) })

	tc, err := tls.Dial("tcp", s.Addr(), c.client(false))
	if err == nil { // TLS 1.3: the client learns it at its first read
		_, _ = tc.Write(frameOf(t, signOn))
		_, err = closedByServer(t, tc)
		tc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("without a certificate: %v, want certificate required", err)
	}
	waitCount(t, s.metrics.handshakeFailures.WithLabelValues("no_client_cert"), 1)

	other, _ := pki.NewCA("another CA")
	forged, _ := other.Issue("demo-store")
	fc, _ := forged.TLS()
	cfg := c.client(false)
	// Go's client would not send a certificate the server's CA list does
	// not name: a hostile one would.
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &fc, nil }
	tc, err = tls.Dial("tcp", s.Addr(), cfg)
	if err == nil {
		_, _ = tc.Write(frameOf(t, signOn))
		_, err = closedByServer(t, tc)
		tc.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "unknown certificate authority") {
		t.Fatalf("another CA's certificate: %v, want unknown certificate authority", err)
	}
	waitCount(t, s.metrics.handshakeFailures.WithLabelValues("unknown_authority"), 1)
	select {
	case id := <-s.pipe.seen:
		t.Fatalf("the pipeline saw a request from %+v", id)
	default:
	}
}

// TestTLSOptionalClientCert: without require, a register without a
// certificate is served, with no store.
func TestTLSOptionalClientCert(t *testing.T) {
	c := newCerts(t)
	s := startServer(t, func(cfg *Config) { cfg.TLS = c.serverTLS(t, false) })
	tc, err := tls.Dial("tcp", s.Addr(), c.client(false))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	roundTrip(t, tc, frameOf(t, signOn))
	if id := <-s.pipe.seen; id.Store != "" || !id.TLS {
		t.Fatalf("pipeline saw %+v", id)
	}
}

// TestTLSNodeCertificate: a certificate naming one of the cluster's nodes
// is that node (a standby relaying), not a store.
func TestTLSNodeCertificate(t *testing.T) {
	c := newCerts(t)
	s := startServer(t, func(cfg *Config) { cfg.TLS, cfg.Nodes = c.serverTLS(t, true), []string{"node1", "node2"} })
	cfg := c.client(false)
	cfg.Certificates = []tls.Certificate{c.node}
	tc, err := tls.Dial("tcp", s.Addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	roundTrip(t, tc, frameOf(t, signOn))
	if id := <-s.pipe.seen; id != (peer.Identity{Addr: tc.LocalAddr().String(), TLS: true, Node: "node1"}) {
		t.Fatalf("pipeline saw %+v", id)
	}
}

// TestTLSHandshakeDeadline: a connection that never starts its handshake
// is closed at the deadline and counted.
func TestTLSHandshakeDeadline(t *testing.T) {
	c := newCerts(t)
	s := startServer(t, func(cfg *Config) { cfg.TLS, cfg.HandshakeTimeout = c.serverTLS(t, true), 300*time.Millisecond })
	pc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if b, err := closedByServer(t, pc); len(b) != 0 || err != nil {
		t.Fatalf("silent client got %q, %v", b, err)
	}
	waitCount(t, s.metrics.handshakeFailures.WithLabelValues("timeout"), 1)
	waitGauge(t, s, 0)
}

// TestTLSFirstFrameDeadline: the handshake alone does not keep a
// connection open: a whole frame must follow within the same deadline.
func TestTLSFirstFrameDeadline(t *testing.T) {
	c := newCerts(t)
	s := startServer(t, func(cfg *Config) { cfg.TLS, cfg.HandshakeTimeout = c.serverTLS(t, true), 500*time.Millisecond })
	tc, err := tls.Dial("tcp", s.Addr(), c.client(true))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	frame := frameOf(t, signOn)
	if _, err := tc.Write(frame[:5]); err != nil { // a frame begun, never finished
		t.Fatal(err)
	}
	if b, err := closedByServer(t, tc); len(b) != 0 || err != nil {
		t.Fatalf("got %q, %v", b, err)
	}
	waitCount(t, s.metrics.deadlineClosed.WithLabelValues("first_frame"), 1)
}

// TestTLSStartedFrameDeadline: after the first frame, a frame begun must
// end within FrameTimeout, however long the idle timeout is.
func TestTLSStartedFrameDeadline(t *testing.T) {
	c := newCerts(t)
	s := startServer(t, func(cfg *Config) {
		cfg.TLS, cfg.FrameTimeout, cfg.IdleTimeout = c.serverTLS(t, true), 300*time.Millisecond, time.Hour
	})
	tc, err := tls.Dial("tcp", s.Addr(), c.client(true))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	frame := frameOf(t, signOn)
	roundTrip(t, tc, frame)
	if _, err := tc.Write(frame[:3]); err != nil {
		t.Fatal(err)
	}
	if b, err := closedByServer(t, tc); len(b) != 0 || err != nil {
		t.Fatalf("got %q, %v", b, err)
	}
	waitCount(t, s.metrics.deadlineClosed.WithLabelValues("frame"), 1)
	if n := value(s.metrics.idleClosed); n != 0 {
		t.Errorf("counted idle: %v", n)
	}
}

// TestTLSMaxConns: past MaxConns a connection is closed at accept.
func TestTLSMaxConns(t *testing.T) {
	c := newCerts(t)
	s := startServer(t, func(cfg *Config) { cfg.TLS, cfg.MaxConns = c.serverTLS(t, true), 1 })
	tc, err := tls.Dial("tcp", s.Addr(), c.client(true))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	roundTrip(t, tc, frameOf(t, signOn))
	_, err = tls.Dial("tcp", s.Addr(), c.client(true))
	if err == nil {
		t.Fatal("a second connection was served past MaxConns 1")
	}
	waitCount(t, s.metrics.refusedConns.WithLabelValues(refusedMaxConns), 1)
}

func waitCount(t *testing.T, c prometheus.Metric, want float64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if value(c) == want {
			return
		}
	}
	t.Fatalf("counter at %v, want %v", value(c), want)
}

func waitGauge(t *testing.T, s *testServer, want int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if s.Connections() == want {
			return
		}
	}
	t.Fatalf("%d connections open, want %d", s.Connections(), want)
}

func writeFile(name string, b []byte) error { return os.WriteFile(name, b, 0o600) }

// value reads a counter.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// BenchmarkTLSConnect: a register's connect over TLS (client certificate
// required) and its sign-on, client and server in this process: what a
// fleet reconnecting at once costs. resumed: with a session cache, as
// failover.TLSFiles makes it.
func BenchmarkTLSConnect(b *testing.B) {
	c := newCerts(b)
	frame := frameOf(b, signOn)
	for _, resumed := range []bool{false, true} {
		b.Run(map[bool]string{false: "full", true: "resumed"}[resumed], func(b *testing.B) {
			s := startServer(b, func(cfg *Config) { cfg.TLS = c.serverTLS(b, true) })
			cfg := c.client(true)
			if resumed {
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(0)
			}
			b.ReportAllocs()
			for b.Loop() {
				tc, err := tls.Dial("tcp", s.Addr(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				roundTrip(b, tc, frame)
				tc.Close()
			}
		})
	}
}
