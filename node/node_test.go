package node_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// adminCluster starts n nodes and the acquirer simulator and waits for a
// leader.
func adminCluster(t *testing.T, n int, tune func(*node.Config)) *localcluster.Cluster {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, Nodes: n, AcquirerAddr: s.Addr(), Tune: tune})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	registerTestTerminals(t, cl)
	return cl
}

// testMerchant is the merchant of every test terminal (registerTestTerminals).
const testMerchant = "MERCHANT0000001"

// registerTestTerminals registers the terminals the tests of this package
// send for: the pipeline refuses any other.
func registerTestTerminals(t testing.TB, cl *localcluster.Cluster) {
	t.Helper()
	var ranges []store.TerminalRange
	for _, r := range [][2]string{
		{"TERM0001", "TERM0009"}, {"CARRY001", ""}, {"TDAY0001", "TDAY0002"}, {"TOWE0001", ""}, {"TFAIL001", ""},
		{"TEIO0001", "TEIO0002"}, {"TFOL0001", ""}, {"ECHO0000", "ECHO0009"}, {"RELAY001", ""}, {"FAIL0000", "FAIL0009"},
		{"ALONE001", ""}, {"TSAF0000", "TSAF0099"}, {"TCAP0001", "TCAP0002"},
	} {
		ranges = append(ranges, store.TerminalRange{From: r[0], To: r[1], Merchant: testMerchant, Store: "store-1"})
	}
	if err := cl.RegisterTerminals(30*time.Second, ranges...); err != nil {
		t.Fatal(err)
	}
}

// single starts a one-node cluster with the acquirer simulator.
func single(t *testing.T) (*node.Node, string) {
	n, reg, _ := singleAdmin(t)
	return n, reg
}

// singleAdmin is single that also returns the admin address.
func singleAdmin(t *testing.T) (n *node.Node, regAddr, adminAddr string) {
	t.Helper()
	cl := adminCluster(t, 1, nil)
	return cl.Nodes[0], cl.Configs[0].RegisterAddr, cl.Configs[0].AdminAddr
}

type client struct {
	t     *testing.T
	conn  net.Conn
	codec *wire.Codec
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, codec: wire.NewCodec(wire.DefaultDialect())}
}

func (c *client) writeRaw(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) send(m *wire.Message) {
	c.t.Helper()
	b, err := c.codec.PackFrame(nil, m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.writeRaw(b)
}

// read returns the next answer; it waits up to a minute, which only bounds a
// hung test, it does not measure anything.
func (c *client) read() (*wire.Message, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Minute))
	var hdr [2]byte
	if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
		return nil, err
	}
	payload := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(c.conn, payload); err != nil {
		return nil, err
	}
	return c.codec.Unpack(payload)
}

func (c *client) roundTrip(m *wire.Message) *wire.Message {
	c.t.Helper()
	c.send(m)
	resp, err := c.read()
	if err != nil {
		c.t.Fatalf("%s %s: %v", m.MTI, m.STAN, err)
	}
	return resp
}

var stan = 0

func purchase(amount int64) *wire.Message {
	stan++
	return &wire.Message{
		MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: amount, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: pad6(stan),
		LocalTime: "120000", LocalDate: "1122", Expiry: "3012", POSEntryMode: "051", POSCondition: "00",
		TerminalID: "TERM0001", MerchantID: "MERCHANT0000001", Currency: "978",
	}
}

func pad6(n int) string {
	s := "000000" + itoa(n)
	return s[len(s)-6:]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestPurchaseRepeatReversal(t *testing.T) {
	n, addr := single(t)
	c := dial(t, addr)

	req := purchase(1234)
	resp := c.roundTrip(req)
	if resp.MTI != "0210" || resp.ResponseCode != "00" || len(resp.AuthCode) != 6 || resp.STAN != req.STAN {
		t.Fatalf("purchase: got MTI %s RC %s auth %q STAN %s", resp.MTI, resp.ResponseCode, resp.AuthCode, resp.STAN)
	}
	if an, _ := resp.Private.Get(wire.TagActiveAddr); an != addr {
		t.Errorf("DE48 AN = %q, want %q", an, addr)
	}
	if aq, ok := resp.Private.Get(wire.TagAcquirerUS); !ok || aq == "" || strings.Trim(aq, "0123456789") != "" {
		t.Errorf("DE48 AQ = %q, %v: want the acquirer round trip in µs", aq, ok)
	}

	rep := *req
	rep.MTI = "0201"
	again := c.roundTrip(&rep)
	if aq, ok := again.Private.Get(wire.TagAcquirerUS); ok {
		t.Errorf("a repeat answered from the state has DE48 AQ %q", aq)
	}
	if again.MTI != "0210" || again.ResponseCode != "00" || again.AuthCode != resp.AuthCode || again.RRN != resp.RRN {
		t.Fatalf("repeat: got %s %s %q %q, want the original 0210 00 %q %q", again.MTI, again.ResponseCode, again.AuthCode, again.RRN, resp.AuthCode, resp.RRN)
	}
	// The same identity sent again without the repeat flag is still the
	// same transaction: the stored answer, not a second authorization
	// (which would carry a new RRN and auth code).
	twice := c.roundTrip(req)
	if twice.ResponseCode != "00" || twice.AuthCode != resp.AuthCode || twice.RRN != resp.RRN {
		t.Fatalf("0200 sent twice: got %s %q %q, want the original 00 %q %q", twice.ResponseCode, twice.AuthCode, twice.RRN, resp.AuthCode, resp.RRN)
	}

	rev := purchase(1234)
	rev.MTI = "0400"
	rev.OriginalData = "0200" + req.STAN + req.TransmissionTime + "00000000000" + "00000000000"
	rr := c.roundTrip(rev)
	if rr.MTI != "0410" || rr.ResponseCode != "00" {
		t.Fatalf("reversal: got %s %s", rr.MTI, rr.ResponseCode)
	}
	tx, ok, err := n.Store().Get(req.Key())
	if err != nil || !ok || tx.Status != store.StatusReversed {
		t.Fatalf("original after reversal: %+v %v %v, want reversed", tx, ok, err)
	}
	tot, err := n.Store().Totals()
	if err != nil {
		t.Fatal(err)
	}
	if s := tot.Net["purchase"]; s.Count != 0 || s.Amount != 0 {
		t.Errorf("net purchases after reversal = %+v, want zero", s)
	}
}

func TestDeclinesWithoutStoring(t *testing.T) {
	n, addr := single(t)
	c := dial(t, addr)
	cases := []struct {
		name string
		edit func(*wire.Message)
		rc   string
	}{
		{"bad luhn", func(m *wire.Message) { m.PAN = "4111111111111112" }, wire.RCInvalidCard},
		{"zero amount", func(m *wire.Message) { m.Amount = 0 }, wire.RCInvalidAmount},
		{"acquirer insufficient funds", func(m *wire.Message) { m.Amount = 1051 }, wire.RCInsufficientFunds},
		{"acquirer do not honour", func(m *wire.Message) { m.PAN = "4000000000000002" }, wire.RCDoNotHonour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := purchase(500)
			tc.edit(req)
			resp := c.roundTrip(req)
			if resp.ResponseCode != tc.rc {
				t.Fatalf("RC %s, want %s", resp.ResponseCode, tc.rc)
			}
			_, stored, _ := n.Store().Get(req.Key())
			if wantStored := tc.rc == wire.RCInsufficientFunds || tc.rc == wire.RCDoNotHonour; stored != wantStored {
				t.Errorf("stored = %v, want %v (only acquirer answers are recorded)", stored, wantStored)
			}
		})
	}
}

func TestPreAuthCompletionRefundEcho(t *testing.T) {
	n, addr := single(t)
	c := dial(t, addr)

	pre := purchase(5000)
	pre.MTI = "0100"
	if r := c.roundTrip(pre); r.MTI != "0110" || r.ResponseCode != "00" {
		t.Fatalf("pre-auth: %s %s", r.MTI, r.ResponseCode)
	}
	comp := purchase(4200)
	comp.MTI = "0220"
	comp.OriginalData = "0100" + pre.STAN + pre.TransmissionTime + "00000000000" + "00000000000"
	if r := c.roundTrip(comp); r.MTI != "0230" || r.ResponseCode != "00" {
		t.Fatalf("completion: %s %s", r.MTI, r.ResponseCode)
	}
	// A completion a register's queue repeats names its card only by the
	// original: the node takes it from there, and the acquirer (acqsim
	// wants DE2 on a 0220) gets it.
	pre2 := purchase(3000)
	pre2.MTI, pre2.PAN = "0100", "5555555555554444"
	if r := c.roundTrip(pre2); r.ResponseCode != "00" {
		t.Fatalf("second pre-auth: %s", r.ResponseCode)
	}
	bare := purchase(2900)
	bare.MTI, bare.PAN, bare.Expiry = "0220", "", ""
	bare.OriginalData = "0100" + pre2.STAN + pre2.TransmissionTime + "00000000000" + "00000000000"
	if r := c.roundTrip(bare); r.MTI != "0230" || r.ResponseCode != "00" {
		t.Fatalf("completion without DE2: %s %s", r.MTI, r.ResponseCode)
	}
	if got, ok, err := n.Store().Get(bare.Key()); err != nil || !ok || got.Last4 != "4444" || got.PANEnc == nil {
		t.Fatalf("completion without DE2 stored %+v %v %v: want the pre-auth's card", got, ok, err)
	}
	orphan := purchase(4200)
	orphan.MTI = "0220"
	orphan.OriginalData = "0100" + "999999" + pre.TransmissionTime + "00000000000" + "00000000000"
	if r := c.roundTrip(orphan); r.ResponseCode != "25" {
		t.Fatalf("completion of an unknown pre-auth: RC %s, want 25", r.ResponseCode)
	}
	ref := purchase(700)
	ref.ProcCode = "200000"
	if r := c.roundTrip(ref); r.MTI != "0210" || r.ResponseCode != "00" {
		t.Fatalf("refund: %s %s", r.MTI, r.ResponseCode)
	}
	echo := &wire.Message{MTI: "0800", TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: "000777", NetworkCode: wire.NetEcho}
	r := c.roundTrip(echo)
	if r.MTI != "0810" || r.ResponseCode != "00" || r.STAN != "000777" {
		t.Fatalf("echo: %s %s %s", r.MTI, r.ResponseCode, r.STAN)
	}
	if an, _ := r.Private.Get(wire.TagActiveAddr); an != addr {
		t.Errorf("echo answer DE48 AN = %q, want %q", an, addr)
	}
}

// TestMalformedInput: a bad message gets 30 when its MTI and STAN can be
// read, a bad frame closes only its own connection, and other registers are
// served throughout.
func TestMalformedInput(t *testing.T) {
	_, addr := single(t)
	good := dial(t, addr)

	// A valid 0200 whose amount holds letters: MTI and STAN stay readable.
	bad := dial(t, addr)
	req := purchase(100)
	payload, err := bad.codec.Pack(req)
	if err != nil {
		t.Fatal(err)
	}
	amt := []byte("000000000100")
	i := bytes.Index(payload, amt)
	if i < 0 {
		t.Fatal("amount not found in packed message")
	}
	copy(payload[i:], "00000000ABCD")
	frame, _ := wire.DefaultDialect().AppendFrame(nil, payload)
	bad.writeRaw(frame)
	resp, err := bad.read()
	if err != nil {
		t.Fatalf("want a 30 answer, got %v", err)
	}
	if resp.MTI != "0210" || resp.ResponseCode != "30" || resp.STAN != req.STAN {
		t.Fatalf("got %s RC %s STAN %s, want 0210 RC 30 STAN %s", resp.MTI, resp.ResponseCode, resp.STAN, req.STAN)
	}

	for _, raw := range [][]byte{
		{0x00, 0x00},                     // empty frame
		{0xFF, 0xFF, 0x30, 0x32},         // over the maximum
		{0x00, 0x04, 'A', 'B', 'C', 'D'}, // no MTI to answer
	} {
		c := dial(t, addr)
		c.writeRaw(raw)
		if _, err := c.read(); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("% x: want the connection closed, got %v", raw, err)
		}
	}
	if r := good.roundTrip(purchase(300)); r.ResponseCode != "00" {
		t.Fatalf("a well-behaved register was disturbed: RC %s", r.ResponseCode)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// TestReversalBeforeOriginal: a register that timed out reverses; when its
// original then arrives late, it must not be authorized (FAULTS.md I3).
func TestReversalBeforeOriginal(t *testing.T) {
	n, addr := single(t)
	c := dial(t, addr)
	orig := purchase(2500)
	rev := purchase(2500)
	rev.MTI = "0400"
	rev.OriginalData = "0200" + orig.STAN + orig.TransmissionTime + "00000000000" + "00000000000"
	if r := c.roundTrip(rev); r.MTI != "0410" || r.ResponseCode != "00" {
		t.Fatalf("reversal of an unknown original: %s %s, want 0410 00", r.MTI, r.ResponseCode)
	}
	late := c.roundTrip(orig)
	if late.ResponseCode == "00" {
		t.Fatal("an original that was already reversed got authorized")
	}
	tx, ok, err := n.Store().Get(orig.Key())
	if err != nil || !ok || tx.Status != store.StatusDeclined {
		t.Fatalf("late original stored as %+v (%v, %v), want declined", tx, ok, err)
	}
	tot, _ := n.Store().Totals()
	if s := tot.Net["purchase"]; s.Count != 0 {
		t.Fatalf("net purchases %+v, want none", s)
	}
}
