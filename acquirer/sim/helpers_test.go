package sim

import (
	"encoding/binary"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

const testDE7 = "0102030405"

// mustOpen starts a simulator with no latency in a temp dir.
func mustOpen(t *testing.T, cfg Config) *Sim {
	t.Helper()
	return mustOpenAt(t, cfg, time.Now)
}

// mustOpenAt is mustOpen with the simulator's clock.
func mustOpenAt(t *testing.T, cfg Config, now func() time.Time) *Sim {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "acq")
	}
	cfg.Dialect = wire.DefaultDialect()
	s, err := open(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustLedger is the simulator's ledger by key.
func mustLedger(t *testing.T, s *Sim) map[string]LedgerRecord {
	t.Helper()
	recs, err := s.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]LedgerRecord, len(recs))
	for _, r := range recs {
		out[r.Key] = r
	}
	return out
}

// manualClock is a clock a test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// standInAdviceOf is the 0220 a client's stand-in sends for orig, under its
// own STAN and DE7, with its auth code.
func standInAdviceOf(orig *wire.Message, stan string) *wire.Message {
	a := *orig
	a.MTI, a.STAN, a.TransmissionTime = "0220", stan, "0102030406"
	a.AuthCode, a.ResponseCode = "S00001", "00"
	a.OriginalData = orig.MTI + orig.STAN + orig.TransmissionTime + "0000000000000000000000"
	return &a
}

// key is the ledger key of m in its class.
func key(m *wire.Message) string { return classOf(m.MTI) + m.Key() }

// client is a synchronous test client on one raw connection.
type client struct {
	t     *testing.T
	nc    net.Conn
	codec *wire.Codec
}

func dial(t *testing.T, s *Sim) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, codec: wire.NewCodec(wire.DefaultDialect())}
}

func (c *client) send(m *wire.Message) {
	c.t.Helper()
	frame, err := c.codec.PackFrame(nil, m)
	if err != nil {
		c.t.Fatalf("pack: %v", err)
	}
	c.write(frame)
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readFrame returns the next payload, or an error (EOF, timeout).
func (c *client) readFrame(timeout time.Duration) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	var h [2]byte
	if _, err := readFull(c.nc, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, binary.BigEndian.Uint16(h[:]))
	_, err := readFull(c.nc, p)
	return p, err
}

func readFull(nc net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := nc.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *client) recv() *wire.Message {
	c.t.Helper()
	p, err := c.readFrame(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read answer: %v", err)
	}
	m, err := c.codec.Unpack(p)
	if err != nil {
		c.t.Fatalf("unpack answer: %v", err)
	}
	return m
}

func (c *client) roundTrip(m *wire.Message) *wire.Message {
	c.t.Helper()
	c.send(m)
	return c.recv()
}

// purchase is a valid 0200 for amount with the given STAN.
func purchase(stan string, amount int64) *wire.Message {
	return &wire.Message{
		MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: amount, HasAmount: true,
		TransmissionTime: testDE7, STAN: stan, Expiry: "9912", TerminalID: "TERM0001",
		MerchantID: "MERCHANT0000001", Currency: "978",
	}
}

func reversalOf(orig *wire.Message, stan string) *wire.Message {
	return &wire.Message{
		MTI: "0400", ProcCode: orig.ProcCode, Amount: orig.Amount, HasAmount: true,
		TransmissionTime: testDE7, STAN: stan, TerminalID: orig.TerminalID, Currency: orig.Currency,
		OriginalData: orig.MTI + orig.STAN + orig.TransmissionTime + "00000000000" + "00000000000",
	}
}

func mustTotals(t *testing.T, s *Sim) map[string]Sum {
	t.Helper()
	tot, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	return tot.Net
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKindNames: the ledger's kinds are the names of the wire kinds a
// transaction books as.
func TestKindNames(t *testing.T) {
	for name, k := range map[string]wire.Kind{
		KindPurchase: wire.KindPurchase, KindRefund: wire.KindRefund, KindCashback: wire.KindCashback,
		KindBalance: wire.KindBalance, KindPreAuth: wire.KindPreAuth, KindCompletion: wire.KindCompletion,
		KindReversal: wire.KindReversal,
	} {
		if k.String() != name {
			t.Errorf("%s is %q in wire", name, k)
		}
	}
}
