package failover

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// behaviour decides what a fake node does with one request: answer it
// (resp non-nil, after delay), close the connection, or say nothing.
type behaviour func(f *fakeNode, m *wire.Message) (resp *wire.Message, closeConn bool, delay time.Duration)

// fakeNode is a TCP listener speaking wire with scripted behaviour.
type fakeNode struct {
	t     testing.TB
	addr  string
	codec *wire.Codec

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	got    []*wire.Message // every request received, in order
	act    behaviour
	hintAN string // AN in every answer when set
	term   int
}

func newFake(t testing.TB, act behaviour) *fakeNode {
	t.Helper()
	return startFake(t, "127.0.0.1:0", act)
}

func startFake(t testing.TB, addr string, act behaviour) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{t: t, addr: ln.Addr().String(), codec: wire.NewCodec(wire.DefaultDialect()),
		ln: ln, conns: map[net.Conn]bool{}, act: act, term: 1}
	go f.accept(ln)
	t.Cleanup(f.stop)
	return f
}

// stop closes the listener and every connection: the node is down.
func (f *fakeNode) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.ln.Close()
	for c := range f.conns {
		_ = c.Close()
	}
}

func (f *fakeNode) set(act behaviour) {
	f.mu.Lock()
	f.act = act
	f.mu.Unlock()
}

func (f *fakeNode) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = true
		f.mu.Unlock()
		go f.serve(c)
	}
}

func (f *fakeNode) serve(c net.Conn) {
	defer c.Close()
	var wmu sync.Mutex
	d := wire.DefaultDialect()
	buf := make([]byte, 0, 8192)
	for {
		payload, n, err := d.Next(buf)
		if err != nil {
			return
		}
		if n == 0 {
			k, err := c.Read(buf[len(buf):cap(buf)])
			if err != nil {
				return
			}
			buf = buf[:len(buf)+k]
			continue
		}
		m, err := f.codec.Unpack(payload)
		buf = buf[:copy(buf, buf[n:])]
		if err != nil {
			f.t.Errorf("fake %s: unpack: %v", f.addr, err)
			return
		}
		f.mu.Lock()
		f.got = append(f.got, m)
		act := f.act
		f.mu.Unlock()
		resp, closeConn, delay := act(f, m)
		if closeConn {
			return
		}
		if resp == nil {
			continue
		}
		go func() {
			time.Sleep(delay)
			b, err := f.codec.PackFrame(nil, resp)
			if err != nil {
				f.t.Errorf("fake: pack: %v", err)
				return
			}
			wmu.Lock()
			_, _ = c.Write(b)
			wmu.Unlock()
		}()
	}
}

// received returns the requests received with MTI in mtis (all if none).
func (f *fakeNode) received(mtis ...string) []*wire.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*wire.Message
	for _, m := range f.got {
		if len(mtis) == 0 || contains(mtis, m.MTI) {
			out = append(out, m)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// reply is a node's answer to m with rc and the fake's hints.
func (f *fakeNode) reply(m *wire.Message, rc string) *wire.Message {
	r := &wire.Message{
		MTI: wire.ResponseMTI(m.MTI), ProcCode: m.ProcCode, Amount: m.Amount, HasAmount: m.HasAmount,
		TransmissionTime: m.TransmissionTime, STAN: m.STAN, TerminalID: m.TerminalID,
		MerchantID: m.MerchantID, Currency: m.Currency, ResponseCode: rc, NetworkCode: m.NetworkCode,
		OriginalData: m.OriginalData,
	}
	f.mu.Lock()
	an, term := f.hintAN, f.term
	f.mu.Unlock()
	if an != "" {
		r.Private.Set(wire.TagActiveAddr, an)
		r.Private.Set(wire.TagTerm, fmt.Sprint(term))
	}
	r.Private.Set(wire.TagNodeID, f.addr)
	if rc == wire.RCApproved && m.MTI != "0800" {
		r.AuthCode = "A12345"
	}
	return r
}

// Behaviours.

func approve(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
	return f.reply(m, wire.RCApproved), false, 0
}

// echoOnly answers network messages and nothing else.
func echoOnly(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
	if m.MTI == "0800" {
		return f.reply(m, wire.RCApproved), false, 0
	}
	return nil, false, 0
}

// notProcessedTo answers requests "not processed, the active is an".
func notProcessedTo(an string) behaviour {
	return func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0800" {
			return f.reply(m, wire.RCApproved), false, 0
		}
		r := f.reply(m, wire.RCIssuerInoperative)
		r.Private.Set(wire.TagActiveAddr, an)
		r.Private.Set(wire.TagTerm, "1")
		r.Private.Set("NP", "1")
		return r, false, 0
	}
}

// closeOn closes the connection after reading a financial request.
func closeOn(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
	if m.MTI == "0800" {
		return f.reply(m, wire.RCApproved), false, 0
	}
	return nil, true, 0
}

// lateBy answers financial requests after d.
func lateBy(d time.Duration) behaviour {
	return func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0800" {
			return f.reply(m, wire.RCApproved), false, 0
		}
		if wire.OriginalMTI(m.MTI) == "0400" {
			return nil, false, 0 // keep the reversal queued
		}
		return f.reply(m, wire.RCApproved), false, d
	}
}

// Client side helpers.

func testConfig(t testing.TB, nodes ...string) Config {
	cfg := DefaultConfig()
	cfg.Nodes = nodes
	cfg.ReversalQueue = filepath.Join(t.TempDir(), "reversals.db")
	cfg.DialTimeout = 500 * time.Millisecond
	cfg.Deadline = 1500 * time.Millisecond
	cfg.AttemptTimeout = 300 * time.Millisecond
	cfg.EchoIdle = 2 * time.Second
	cfg.DeadAfter = 4 * time.Second
	cfg.Hold = 400 * time.Millisecond
	cfg.RecheckMin, cfg.RecheckMax = 10*time.Millisecond, 20*time.Millisecond
	cfg.OfflineProbe = 300 * time.Millisecond
	cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.RepeatBackoff = 10 * time.Millisecond
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = 50*time.Millisecond, 200*time.Millisecond
	cfg.Logger = testLogger(t)
	return cfg
}

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TILLGATE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// recorder collects events.
type recorder struct {
	mu sync.Mutex
	ev []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.ev = append(r.ev, e)
	r.mu.Unlock()
}

func (r *recorder) count(k EventKind, match func(Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.ev {
		if e.Kind == k && (match == nil || match(e)) {
			n++
		}
	}
	return n
}

func open(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var testSTAN = 0

func purchase(amount int64) *wire.Message {
	testSTAN++
	return &wire.Message{
		MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: amount, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: fmt.Sprintf("%06d", testSTAN),
		LocalTime: "120000", LocalDate: "1122", Expiry: "3012", POSEntryMode: "051", POSCondition: "00",
		TerminalID: "TERM0001", MerchantID: "MERCHANT0000001", Currency: "978",
	}
}

// eventually polls cond for up to 5 s (it bounds a hung test; it measures
// nothing).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func queued(t *testing.T, c *Client) []*entry {
	t.Helper()
	es, err := c.q.all()
	if err != nil {
		t.Fatal(err)
	}
	return es
}
