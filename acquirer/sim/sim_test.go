package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

func TestRules(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	tests := []struct {
		name   string
		edit   func(m *wire.Message)
		mti    string
		rc     string
		approv bool
	}{
		{"purchase", func(m *wire.Message) {}, "0210", "00", true},
		{"bad luhn", func(m *wire.Message) { m.PAN = "4111111111111112" }, "0210", "14", false},
		{"do not honour", func(m *wire.Message) { m.PAN = PANDoNotHonour }, "0210", "05", false},
		{"expired card", func(m *wire.Message) { m.PAN = PANExpired }, "0210", "54", false},
		{"expired DE14", func(m *wire.Message) { m.Expiry = "2001" }, "0210", "54", false},
		{"expired track2", func(m *wire.Message) { m.PAN, m.Expiry, m.Track2 = "", "", "4111111111111111=2001101" }, "0210", "54", false},
		{"track2 only", func(m *wire.Message) { m.PAN, m.Expiry, m.Track2 = "", "", "4111111111111111=9912101" }, "0210", "00", true},
		{"insufficient", func(m *wire.Message) { m.Amount = 1051 }, "0210", "51", false},
		{"zero amount", func(m *wire.Message) { m.Amount = 0 }, "0210", "13", false},
		{"zero preauth", func(m *wire.Message) { m.MTI, m.Amount = "0100", 0 }, "0110", "13", false},
		{"preauth", func(m *wire.Message) { m.MTI = "0100" }, "0110", "00", true},
		{"refund", func(m *wire.Message) { m.ProcCode = "200000" }, "0210", "00", true},
		{"cashback", func(m *wire.Message) { m.ProcCode = "090000" }, "0210", "00", true},
		{"balance", func(m *wire.Message) { m.ProcCode, m.Amount, m.HasAmount = "310000", 0, false }, "0210", "00", true},
		{"completion", func(m *wire.Message) {
			m.MTI, m.OriginalData = "0220", "0100"+"999999"+testDE7+"0000000000000000000000"
		}, "0230", "00", true},
		{"no card", func(m *wire.Message) { m.PAN, m.Expiry = "", "" }, "0210", "30", false},
		{"no DE7", func(m *wire.Message) { m.TransmissionTime = "" }, "0210", "30", false},
		{"zero amount without DE41", func(m *wire.Message) { m.Amount, m.TerminalID = 0, "" }, "0210", "30", false},
		{"authorization advice", func(m *wire.Message) { m.MTI, m.AuthCode = "0120", "A12345" }, "0130", "00", true},
		{"MTI not served", func(m *wire.Message) { m.MTI = "0320" }, "0330", "30", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := purchase(strconv.Itoa(100000+i), 1000)
			tt.edit(req)
			resp := c.roundTrip(req)
			if resp.MTI != tt.mti || resp.ResponseCode != tt.rc || resp.STAN != req.STAN {
				t.Fatalf("got %s RC %s STAN %s, want %s RC %s STAN %s", resp.MTI, resp.ResponseCode, resp.STAN, tt.mti, tt.rc, req.STAN)
			}
			if tt.approv != (len(resp.AuthCode) == 6) {
				t.Errorf("auth code %q with RC %s", resp.AuthCode, resp.ResponseCode)
			}
			if resp.PAN != "" || resp.Track2 != "" || resp.PINBlock != nil || resp.ICC != nil {
				t.Errorf("answer carries card data")
			}
		})
	}
}

func TestEcho(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	resp := c.roundTrip(&wire.Message{MTI: "0800", TransmissionTime: testDE7, STAN: "000001", NetworkCode: wire.NetEcho})
	want := &wire.Message{MTI: "0810", TransmissionTime: testDE7, STAN: "000001", NetworkCode: wire.NetEcho, ResponseCode: "00"}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("got %+v, want %+v", resp, want)
	}
	waitFor(t, "answer counted", func() bool { return s.Stats().Answered == 1 })
	if st := s.Stats(); st.Echoes != 1 || st.Requests != 1 || st.Answered != 1 {
		t.Errorf("stats %+v", st)
	}
	if tot := mustTotals(t, s); len(tot) != 0 {
		t.Errorf("an echo reached the ledger: %v", tot)
	}
}

// TestAnswerFields: identity fields echoed, the request's RRN kept or one
// assigned, the auth code a pure function of the identity, no card data.
func TestAnswerFields(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	req := purchase("000042", 1234)
	req.Track2, req.PINBlock, req.ICC = "4111111111111111=9912101", []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{0x9f, 0x26}
	resp := c.roundTrip(req)
	want := &wire.Message{
		MTI: "0210", ProcCode: "000000", Amount: 1234, HasAmount: true, TransmissionTime: testDE7,
		STAN: "000042", RRN: assignRRN("0200TERM0001000042" + testDE7), AuthCode: "925274", ResponseCode: "00",
		TerminalID: "TERM0001", MerchantID: "MERCHANT0000001", Currency: "978",
	}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("got  %+v\nwant %+v", resp, want)
	}
	if len(resp.RRN) != 12 {
		t.Errorf("assigned RRN %q", resp.RRN)
	}
	req2 := purchase("000043", 1234)
	req2.RRN = "123456789012"
	if resp := c.roundTrip(req2); resp.RRN != "123456789012" {
		t.Errorf("RRN %q, want the request's", resp.RRN)
	}
}

func TestDuplicate(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	orig := c.roundTrip(purchase("000001", 2500))
	for _, mti := range []string{"0201", "0200"} {
		rep := purchase("000001", 2500)
		rep.MTI = mti
		got := c.roundTrip(rep)
		if got.MTI != "0210" || got.ResponseCode != orig.ResponseCode || got.AuthCode != orig.AuthCode || got.RRN != orig.RRN {
			t.Errorf("%s: got RC %s auth %s rrn %s, want the original %s %s %s", mti,
				got.ResponseCode, got.AuthCode, got.RRN, orig.ResponseCode, orig.AuthCode, orig.RRN)
		}
	}
	// A repeat of a decline is the decline, even if the card would pass now.
	dec := purchase("000002", 1051)
	c.roundTrip(dec)
	dec.MTI, dec.Amount = "0201", 1000
	if got := c.roundTrip(dec); got.ResponseCode != "51" {
		t.Errorf("repeat of a decline: RC %s, want 51", got.ResponseCode)
	}
	if st := s.Stats(); st.Duplicates != 3 {
		t.Errorf("duplicates %d, want 3", st.Duplicates)
	}
	want := map[string]Sum{KindPurchase: {Count: 1, Amount: 2500}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
}

func TestReversal(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	p1, p2 := purchase("000001", 1000), purchase("000002", 700)
	c.roundTrip(p1)
	c.roundTrip(p2)
	rev := reversalOf(p1, "000003")
	if got := c.roundTrip(rev); got.MTI != "0410" || got.ResponseCode != "00" || got.OriginalData != rev.OriginalData {
		t.Fatalf("reversal: %s RC %s DE90 %q", got.MTI, got.ResponseCode, got.OriginalData)
	}
	want := map[string]Sum{KindPurchase: {Count: 1, Amount: 700}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
	// Its repeat, an advice of the same reversal, and a second reversal
	// with another identity change nothing.
	rev.MTI = "0401"
	c.roundTrip(rev)
	rev.MTI = "0420"
	if got := c.roundTrip(rev); got.MTI != "0430" || got.ResponseCode != "00" {
		t.Errorf("advice: %s RC %s", got.MTI, got.ResponseCode)
	}
	c.roundTrip(reversalOf(p1, "000004"))
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("after repeats: totals %v, want %v", got, want)
	}
	if st := s.Stats(); st.Duplicates != 2 {
		t.Errorf("duplicates %d, want 2", st.Duplicates)
	}
	// A reversal with the original's own STAN and DE7 is a different
	// identity (class 0400): it is not a duplicate of the purchase.
	c.roundTrip(reversalOf(p2, p2.STAN))
	if got := mustTotals(t, s); len(got) != 0 {
		t.Errorf("totals %v, want none", got)
	}
}

func TestReversalOfDecline(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	dec := purchase("000001", 1051)
	c.roundTrip(dec)
	if got := c.roundTrip(reversalOf(dec, "000002")); got.ResponseCode != "00" {
		t.Fatalf("RC %s", got.ResponseCode)
	}
	// The decline stays a decline for its repeats.
	dec.MTI = "0201"
	if got := c.roundTrip(dec); got.ResponseCode != "51" {
		t.Errorf("repeat: RC %s, want 51", got.ResponseCode)
	}
	days, err := s.TotalsByDay()
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 0 {
		t.Errorf("days %v, want none", days)
	}
}

func TestReversalBeforeOriginal(t *testing.T) {
	day := time.Date(2026, 3, 14, 23, 59, 0, 0, time.UTC)
	clock := func() time.Time { return day }
	s, err := open(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dialect: wire.DefaultDialect()}, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dial(t, s)
	p := purchase("000001", 1000)
	if got := c.roundTrip(reversalOf(p, "000002")); got.ResponseCode != "00" {
		t.Fatalf("reversal of an unknown original: RC %s", got.ResponseCode)
	}
	got := c.roundTrip(p)
	if got.ResponseCode != "00" || len(got.AuthCode) != 6 {
		t.Fatalf("late original: RC %s auth %q, want an ordinary approval", got.ResponseCode, got.AuthCode)
	}
	if tot := mustTotals(t, s); len(tot) != 0 {
		t.Errorf("totals %v, want none: the original was reversed before it came", tot)
	}
	if st := s.Stats(); st.Duplicates != 0 {
		t.Errorf("the late original counted as a duplicate")
	}
	days, err := s.TotalsByDay()
	if err != nil {
		t.Fatal(err)
	}
	one := map[string]Sum{KindPurchase: {Count: 1, Amount: 1000}}
	want := map[string]DayTotals{"20260314": {Approved: one, Reversed: one, Net: map[string]Sum{KindPurchase: {}}}}
	if !reflect.DeepEqual(days, want) {
		t.Errorf("days %+v, want %+v", days, want)
	}
}

// TestTotalsByDay: approvals count on their day, reversals on theirs.
func TestTotalsByDay(t *testing.T) {
	day := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	var now = day
	clock := make(chan time.Time, 1)
	clock <- now
	tick := func() time.Time { v := <-clock; clock <- v; return v }
	s, err := open(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dialect: wire.DefaultDialect()}, tick)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dial(t, s)
	p1, p2 := purchase("000001", 1000), purchase("000002", 300)
	p2.ProcCode = "200000"
	c.roundTrip(p1)
	c.roundTrip(p2)
	<-clock
	clock <- day.AddDate(0, 0, 1)
	c.roundTrip(reversalOf(p1, "000003"))
	days, err := s.TotalsByDay()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]DayTotals{
		"20260314": {
			Approved: map[string]Sum{KindPurchase: {1, 1000}, KindRefund: {1, 300}},
			Reversed: map[string]Sum{},
			Net:      map[string]Sum{KindPurchase: {1, 1000}, KindRefund: {1, 300}},
		},
		"20260315": {
			Approved: map[string]Sum{},
			Reversed: map[string]Sum{KindPurchase: {1, 1000}},
			Net:      map[string]Sum{KindPurchase: {-1, -1000}},
		},
	}
	if !reflect.DeepEqual(days, want) {
		t.Errorf("days %+v\nwant %+v", days, want)
	}
}

// TestLedgerSurvivesRestart: fsync'd or not (NoSync: a load test's
// acqsim), what was answered is in the ledger after a restart.
func TestLedgerSurvivesRestart(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("nosync=%v", noSync), func(t *testing.T) { testLedgerSurvivesRestart(t, noSync) })
	}
}

func testLedgerSurvivesRestart(t *testing.T, noSync bool) {
	dir := t.TempDir()
	s := mustOpen(t, Config{DataDir: dir, NoSync: noSync})
	c := dial(t, s)
	first := c.roundTrip(purchase("000001", 4200))
	c.roundTrip(purchase("000002", 100))
	c.roundTrip(reversalOf(purchase("000002", 100), "000003"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]Sum{KindPurchase: {Count: 1, Amount: 4200}}

	// Read-only, with no server running.
	l, err := OpenLedger(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	tot, err := l.Totals()
	l.Close()
	if err != nil || !reflect.DeepEqual(tot.Net, want) {
		t.Fatalf("read-only totals %v (err %v), want %v", tot.Net, err, want)
	}

	s2 := mustOpen(t, Config{DataDir: dir, NoSync: noSync})
	rep := purchase("000001", 4200)
	rep.MTI = "0201"
	got := dial(t, s2).roundTrip(rep)
	if got.ResponseCode != first.ResponseCode || got.AuthCode != first.AuthCode || got.RRN != first.RRN {
		t.Errorf("repeat after restart: RC %s auth %s, want %s %s", got.ResponseCode, got.AuthCode, first.ResponseCode, first.AuthCode)
	}
	if s2.Stats().Duplicates != 1 {
		t.Errorf("the repeat after restart was not a duplicate")
	}
	if got := mustTotals(t, s2); !reflect.DeepEqual(got, want) {
		t.Errorf("totals after restart %v, want %v", got, want)
	}
}

func TestOpenLedgerReadOnlyMissing(t *testing.T) {
	if _, err := OpenLedger(filepath.Join(t.TempDir(), "none"), true); err == nil {
		t.Fatal("read-only open of a missing ledger succeeded")
	}
}

func TestMalformed(t *testing.T) {
	s := mustOpen(t, Config{})
	good := dial(t, s)

	shortSTAN := append([]byte("0200"), 0, 0x20, 0, 0, 0, 0, 0, 0) // bitmap: DE11 only
	shortSTAN = append(shortSTAN, "00007"...)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"no MTI", frame([]byte("XX"))},
		{"STAN unreadable", frame(shortSTAN)},
		{"a response MTI", frame([]byte("0210"))},
		{"empty frame", []byte{0, 0}},
		{"oversized", []byte{0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s)
			c.write(tt.frame)
			if _, err := c.readFrame(5 * time.Second); !errors.Is(err, io.EOF) {
				t.Errorf("read after %s: %v, want EOF (closed)", tt.name, err)
			}
		})
	}
	if got := good.roundTrip(purchase("000001", 1000)); got.ResponseCode != "00" {
		t.Errorf("other connection: RC %s", got.ResponseCode)
	}
}

func TestMalformedAnswered30(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	p, err := c.codec.Pack(purchase("000077", 1000))
	if err != nil {
		t.Fatal(err)
	}
	// Cut inside DE41: MTI and STAN stay readable.
	p = p[:len(p)-25]
	c.write(frame(p))
	got := c.recv()
	if got.MTI != "0210" || got.STAN != "000077" || got.ResponseCode != "30" {
		t.Fatalf("got %s STAN %s RC %s, want 0210 000077 30", got.MTI, got.STAN, got.ResponseCode)
	}
	if got := c.roundTrip(purchase("000078", 1000)); got.ResponseCode != "00" {
		t.Errorf("same connection afterwards: RC %s", got.ResponseCode)
	}
	if st := s.Stats(); st.Malformed != 1 {
		t.Errorf("malformed %d, want 1", st.Malformed)
	}
}

func frame(p []byte) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(p)))
	return append(out, p...)
}

func TestFaults(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	c.roundTrip(purchase("000001", 1000))

	s.SetFault(Fault{Down: true})
	if _, err := c.readFrame(5 * time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("open connection under Down: %v, want EOF", err)
	}
	c2 := dial(t, s)
	if _, err := c2.readFrame(5 * time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("new connection under Down: %v, want EOF", err)
	}

	s.SetFault(Fault{DropAnswers: true})
	c3 := dial(t, s)
	c3.send(purchase("000002", 500))
	if _, err := c3.readFrame(300 * time.Millisecond); err == nil {
		t.Error("answer under DropAnswers")
	}
	want := map[string]Sum{KindPurchase: {Count: 2, Amount: 1500}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("dropped answer not recorded: totals %v, want %v", got, want)
	}

	s.SetFault(Fault{ExtraLatency: 100 * time.Millisecond})
	start := time.Now()
	if got := c3.roundTrip(purchase("000003", 500)); got.ResponseCode != "00" {
		t.Errorf("RC %s", got.ResponseCode)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("answered after %v, before the extra latency", d)
	}
	if s.Fault() != (Fault{ExtraLatency: 100 * time.Millisecond}) {
		t.Errorf("Fault() = %+v", s.Fault())
	}
}

func TestParseLatency(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		in   string
		want Latency
		ok   bool
	}{
		{"2ms", Latency{2 * ms, 2 * ms}, true},
		{"0-5ms", Latency{0, 5 * ms}, true},
		{"1ms-5ms", Latency{ms, 5 * ms}, true},
		{"1.5-2s", Latency{1500 * ms, 2 * time.Second}, true},
		{"0", Latency{}, true},
		{"500us-1ms", Latency{500 * time.Microsecond, ms}, true},
		{"5-1ms", Latency{}, false},
		{"-1ms", Latency{}, false},
		{"fast", Latency{}, false},
		{"", Latency{}, false},
		{"1-", Latency{}, false},
	}
	for _, tt := range tests {
		got, err := ParseLatency(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseLatency(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if s := (Latency{0, 5 * ms}).String(); s != "0s-5ms" {
		t.Errorf("String() = %q", s)
	}
	if l, _ := ParseLatency((Latency{ms, 3 * ms}).String()); l != (Latency{ms, 3 * ms}) {
		t.Errorf("String does not round-trip: %v", l)
	}
}

func TestLatencyDraw(t *testing.T) {
	l := Latency{Min: time.Millisecond, Max: 3 * time.Millisecond}
	for range 1000 {
		if d := l.draw(); d < l.Min || d > l.Max {
			t.Fatalf("draw %v outside %v", d, l)
		}
	}
	if d := (Latency{Min: time.Second, Max: time.Second}).draw(); d != time.Second {
		t.Errorf("fixed draw %v", d)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []Config{
		{Addr: "127.0.0.1:0"},
		{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Latency: Latency{Min: 2, Max: 1}},
		{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dialect: wire.Dialect{Header: 7}},
		{Addr: "256.0.0.1:x", DataDir: t.TempDir()},
	}
	for _, cfg := range tests {
		if s, err := Open(cfg); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

// TestResponseIgnored: a response sent to the host is not answered and
// does not cost the connection.
func TestResponseIgnored(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	c.send(&wire.Message{MTI: "0210", TransmissionTime: testDE7, STAN: "000001", ResponseCode: "00"})
	if got := c.roundTrip(purchase("000002", 1000)); got.STAN != "000002" || got.ResponseCode != "00" {
		t.Errorf("next answer: STAN %s RC %s, want 000002 00", got.STAN, got.ResponseCode)
	}
	if st := s.Stats(); st.Malformed != 1 {
		t.Errorf("malformed %d, want 1", st.Malformed)
	}
}
