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

	"github.com/tillgate/tillgate/internal/fakenode"
	"github.com/tillgate/tillgate/wire"
)

// fakeNode is the shared fake node (internal/fakenode): a TCP listener
// speaking wire with scripted behaviour.
type fakeNode = fakenode.Node

// behaviour decides what a fake node does with one request: answer it
// (resp non-nil, after delay), close the connection, or say nothing.
type behaviour = fakenode.Handler

func newFake(t testing.TB, act behaviour) *fakeNode {
	t.Helper()
	return fakenode.Start(t, "127.0.0.1:0", act)
}

func startFake(t testing.TB, addr string, act behaviour) *fakeNode {
	t.Helper()
	return fakenode.Start(t, addr, act)
}

// Behaviours.

func approve(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
	return f.Reply(m, wire.RCApproved), false, 0
}

// echoOnly answers network messages and nothing else.
func echoOnly(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
	if m.MTI == "0800" {
		return f.Reply(m, wire.RCApproved), false, 0
	}
	return nil, false, 0
}

// notProcessedTo answers requests "not processed, the active is an".
func notProcessedTo(an string) behaviour {
	return func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0800" {
			return f.Reply(m, wire.RCApproved), false, 0
		}
		r := f.Reply(m, wire.RCIssuerInoperative)
		r.Private.Set(wire.TagActiveAddr, an)
		r.Private.Set(wire.TagTerm, "1")
		r.Private.Set("NP", "1")
		return r, false, 0
	}
}

// closeOn closes the connection after reading a financial request.
func closeOn(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
	if m.MTI == "0800" {
		return f.Reply(m, wire.RCApproved), false, 0
	}
	return nil, true, 0
}

// lateBy answers financial requests after d.
func lateBy(d time.Duration) behaviour {
	return func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0800" {
			return f.Reply(m, wire.RCApproved), false, 0
		}
		if wire.OriginalMTI(m.MTI) == "0400" {
			return nil, false, 0 // keep the reversal queued
		}
		return f.Reply(m, wire.RCApproved), false, d
	}
}

// Client side helpers.

func testConfig(t testing.TB, nodes ...string) Config {
	cfg := DefaultConfig()
	cfg.Nodes = nodes
	dir := t.TempDir()
	cfg.ReversalQueue = filepath.Join(dir, "reversals.db")
	// A register's queue key, as a real one is configured: 0120s keep
	// their card sealed.
	cfg.QueueKeyFile = filepath.Join(dir, "queue.key")
	if err := WriteQueueKeyFile(cfg.QueueKeyFile); err != nil {
		t.Fatal(err)
	}
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
	es, err := c.fwd.q.all()
	if err != nil {
		t.Fatal(err)
	}
	return es
}
