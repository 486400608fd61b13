package acquirer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/wire"
)

const testDE7 = "0102030405"

func startSim(t *testing.T, cfg sim.Config) *sim.Sim {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "acq")
	}
	s, err := sim.Open(cfg) // the zero Dialect is the default one
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openLink opens a link to addr and waits until it is healthy.
func openLink(t *testing.T, addr string, edit func(*Config)) *Link {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addr = addr
	cfg.Timeout = 5 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	waitFor(t, "link healthy", l.Healthy)
	return l
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

func stan(i int) string { return fmt.Sprintf("%06d", i) }

func mustSend(t *testing.T, l *Link, m *wire.Message) *wire.Message {
	t.Helper()
	resp, err := l.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("send %s %s: %v", m.MTI, m.STAN, err)
	}
	return resp
}

func mustTotals(t *testing.T, s *sim.Sim) map[string]sim.Sum {
	t.Helper()
	tot, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	return tot.Net
}

func TestLinkRules(t *testing.T) {
	s := startSim(t, sim.Config{})
	l := openLink(t, s.Addr(), nil)
	tests := []struct {
		name string
		edit func(m *wire.Message)
		rc   string
	}{
		{"approved", func(m *wire.Message) {}, "00"},
		{"bad luhn", func(m *wire.Message) { m.PAN = "4111111111111112" }, "14"},
		{"do not honour", func(m *wire.Message) { m.PAN = sim.PANDoNotHonour }, "05"},
		{"expired card", func(m *wire.Message) { m.PAN = sim.PANExpired }, "54"},
		{"expired DE14", func(m *wire.Message) { m.Expiry = "1912" }, "54"},
		{"insufficient", func(m *wire.Message) { m.Amount = 99951 }, "51"},
		{"zero amount", func(m *wire.Message) { m.Amount = 0 }, "13"},
		{"zero preauth", func(m *wire.Message) { m.MTI, m.Amount = "0100", 0 }, "13"},
		{"preauth", func(m *wire.Message) { m.MTI = "0100" }, "00"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := purchase(stan(i+1), 1000)
			tt.edit(req)
			resp := mustSend(t, l, req)
			if resp.ResponseCode != tt.rc || resp.STAN != req.STAN || resp.MTI != wire.ResponseMTI(req.MTI) {
				t.Errorf("got %s RC %s STAN %s, want RC %s STAN %s", resp.MTI, resp.ResponseCode, resp.STAN, tt.rc, req.STAN)
			}
		})
	}
	want := map[string]sim.Sum{"purchase": {Count: 1, Amount: 1000}, "preauth": {Count: 1, Amount: 1000}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
}

// TestLinkConcurrent: 200 senders, answers out of order, each matched to
// its own request.
func TestLinkConcurrent(t *testing.T) {
	s := startSim(t, sim.Config{Latency: sim.Latency{Min: 0, Max: 5 * time.Millisecond}})
	l := openLink(t, s.Addr(), nil)
	const senders, each = 200, 5
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := g*each + i + 1
				amount := int64(n * 100)
				if n%7 == 0 {
					amount += 51 // declined 51
				}
				req := purchase(stan(n), amount)
				resp, err := l.Send(context.Background(), req)
				switch {
				case err != nil:
					errs <- err
				case resp.STAN != req.STAN || resp.Amount != amount:
					errs <- fmt.Errorf("request %s/%d got the answer of %s/%d", req.STAN, amount, resp.STAN, resp.Amount)
				case (amount%100 == 51) != (resp.ResponseCode == "51"):
					errs <- fmt.Errorf("request %s/%d answered %s", req.STAN, amount, resp.ResponseCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := l.Stats()
	if st.Sent != senders*each || st.Answered != senders*each || st.Late != 0 || st.Timeouts != 0 {
		t.Errorf("link stats %+v", st)
	}
	var count, amount int64
	for n := 1; n <= senders*each; n++ {
		if n%7 != 0 {
			count++
			amount += int64(n * 100)
		}
	}
	want := map[string]sim.Sum{"purchase": {Count: count, Amount: amount}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
}

func TestLinkDuplicate(t *testing.T) {
	s := startSim(t, sim.Config{})
	l := openLink(t, s.Addr(), nil)
	orig := mustSend(t, l, purchase("000001", 2500))
	rep := purchase("000001", 2500)
	rep.MTI = "0201"
	got := mustSend(t, l, rep)
	if got.ResponseCode != "00" || got.ResponseCode != orig.ResponseCode || got.AuthCode != orig.AuthCode {
		t.Errorf("repeat: RC %s auth %s, original RC %s auth %s", got.ResponseCode, got.AuthCode, orig.ResponseCode, orig.AuthCode)
	}
	if s.Stats().Duplicates != 1 {
		t.Errorf("sim duplicates %d, want 1", s.Stats().Duplicates)
	}
	want := map[string]sim.Sum{"purchase": {Count: 1, Amount: 2500}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("totals %v, want %v (counted once)", got, want)
	}
}

func TestLinkReversal(t *testing.T) {
	s := startSim(t, sim.Config{})
	l := openLink(t, s.Addr(), nil)
	p := purchase("000001", 1000)
	mustSend(t, l, p)
	mustSend(t, l, purchase("000002", 200))
	if r := mustSend(t, l, reversalOf(p, "000003")); r.MTI != "0410" || r.ResponseCode != "00" {
		t.Fatalf("reversal: %s %s", r.MTI, r.ResponseCode)
	}
	want := map[string]sim.Sum{"purchase": {Count: 1, Amount: 200}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
	// Reversal before its original: both answered, nets to zero.
	late := purchase("000004", 900)
	if r := mustSend(t, l, reversalOf(late, "000005")); r.ResponseCode != "00" {
		t.Fatalf("reversal of unknown: RC %s", r.ResponseCode)
	}
	if r := mustSend(t, l, late); r.ResponseCode != "00" {
		t.Fatalf("late original: RC %s", r.ResponseCode)
	}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
}

// TestLinkTimeout: an answer slower than the deadline is ErrTimeout; when
// it comes it is dropped, not handed to the request waiting next.
func TestLinkTimeout(t *testing.T) {
	s := startSim(t, sim.Config{Latency: sim.Latency{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond}})
	l := openLink(t, s.Addr(), func(c *Config) { c.Timeout = 2 * time.Second; c.Conns = 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := l.Send(ctx, purchase("000001", 1000))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrTimeout and DeadlineExceeded", err)
	}
	// Sent ~50 ms after the first: the first's answer comes ~250 ms
	// before this one's, on the same connection.
	resp := mustSend(t, l, purchase("000002", 2000))
	if resp.STAN != "000002" || resp.Amount != 2000 {
		t.Errorf("second request got STAN %s amount %d", resp.STAN, resp.Amount)
	}
	waitFor(t, "late answer counted", func() bool { return l.Stats().Late == 1 })
	if st := l.Stats(); st.Timeouts != 1 || st.Answered != 1 {
		t.Errorf("stats %+v", st)
	}

	// The link's own timeout.
	short := openLink(t, s.Addr(), func(c *Config) { c.Timeout = 100 * time.Millisecond })
	_, err = short.Send(context.Background(), purchase("000003", 1000))
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
}

func TestLinkUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l, err := Open(Config{Addr: addr, Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = l.Send(context.Background(), purchase("000001", 1000))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	if l.Healthy() {
		t.Error("healthy with nothing listening")
	}
	if st := l.Stats(); st.Sent != 0 || st.Unavailable != 1 {
		t.Errorf("stats %+v", st)
	}
	// A context already ended: never sent either.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Send(ctx, purchase("000002", 1000)); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
}

func TestLinkClosed(t *testing.T) {
	s := startSim(t, sim.Config{})
	l := openLink(t, s.Addr(), nil)
	l.Close()
	_, err := l.Send(context.Background(), purchase("000001", 1000))
	if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrClosed and ErrUnavailable", err)
	}
	if l.Healthy() {
		t.Error("healthy after Close")
	}
}

func TestLinkBadMessage(t *testing.T) {
	s := startSim(t, sim.Config{})
	l := openLink(t, s.Addr(), nil)
	bad := purchase("1", 1000) // DE11 must be 6 digits
	bad.TransmissionTime = "not a time"
	if _, err := l.Send(context.Background(), bad); !errors.Is(err, ErrUnavailable) {
		t.Errorf("unpackable message: %v, want ErrUnavailable", err)
	}
	if _, err := l.Send(context.Background(), nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("nil message: %v, want ErrUnavailable", err)
	}
}

// TestLinkConnLost: the host dies with the request written: ErrConnLost.
func TestLinkConnLost(t *testing.T) {
	s := startSim(t, sim.Config{})
	l := openLink(t, s.Addr(), func(c *Config) { c.Conns = 1 })
	s.SetFault(sim.Fault{DropAnswers: true})
	errc := make(chan error, 1)
	go func() {
		_, err := l.Send(context.Background(), purchase("000001", 1000))
		errc <- err
	}()
	// Recorded, not only read: the host approves it, then loses the answer.
	waitFor(t, "request recorded at the host", func() bool { return mustTotals(t, s)["purchase"].Count == 1 })
	s.SetFault(sim.Fault{Down: true})
	err := <-errc
	if !errors.Is(err, ErrConnLost) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrConnLost", err)
	}
	if got := mustTotals(t, s); got["purchase"].Count != 1 {
		t.Errorf("the host recorded %v: the test wants an approval whose answer was lost", got)
	}
	s.SetFault(sim.Fault{})
	waitFor(t, "reconnected", l.Healthy)
	if r := mustSend(t, l, purchase("000002", 1000)); r.ResponseCode != "00" {
		t.Errorf("after reconnect: RC %s", r.ResponseCode)
	}
	if l.Stats().Reconnects == 0 {
		t.Error("no reconnect counted")
	}
}

// TestLinkSimRestart: the host restarts on the same port and data: the
// link reconnects by itself and the ledger kept the first answer.
func TestLinkSimRestart(t *testing.T) {
	dir := t.TempDir()
	s := startSim(t, sim.Config{DataDir: dir})
	addr := s.Addr()
	l := openLink(t, addr, func(c *Config) { c.Conns = 2 })
	first := mustSend(t, l, purchase("000001", 3300))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link down", func() bool { return !l.Healthy() })
	if _, err := l.Send(context.Background(), purchase("000002", 100)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("while down: %v, want ErrUnavailable", err)
	}
	s2 := startSim(t, sim.Config{Addr: addr, DataDir: dir})
	waitFor(t, "link up again", func() bool { return l.Stats().Connected == 2 })
	rep := purchase("000001", 3300)
	rep.MTI = "0201"
	got := mustSend(t, l, rep)
	if got.ResponseCode != first.ResponseCode || got.AuthCode != first.AuthCode {
		t.Errorf("repeat after restart: RC %s auth %s, want %s %s", got.ResponseCode, got.AuthCode, first.ResponseCode, first.AuthCode)
	}
	want := map[string]sim.Sum{"purchase": {Count: 1, Amount: 3300}}
	if got := mustTotals(t, s2); !reflect.DeepEqual(got, want) {
		t.Errorf("totals after restart %v, want %v", got, want)
	}
	if st := l.Stats(); st.Reconnects < 2 {
		t.Errorf("reconnects %d, want >= 2", st.Reconnects)
	}
}

// TestLinkEcho: an idle connection is echoed; an echo left unanswered
// closes the connection, which comes back.
func TestLinkEcho(t *testing.T) {
	s := startSim(t, sim.Config{})
	l := openLink(t, s.Addr(), func(c *Config) {
		c.Conns, c.EchoInterval, c.Timeout = 1, 40*time.Millisecond, 150*time.Millisecond
	})
	waitFor(t, "echoes", func() bool { return s.Stats().Echoes >= 2 })
	if st := l.Stats(); st.Echoes < 2 || st.EchoFailures != 0 || st.Sent != 0 {
		t.Errorf("stats %+v: echoes are not requests", st)
	}
	s.SetFault(sim.Fault{DropAnswers: true})
	waitFor(t, "echo failure", func() bool { return l.Stats().EchoFailures >= 1 })
	s.SetFault(sim.Fault{})
	waitFor(t, "reconnect after the echo failure", func() bool { return l.Stats().Reconnects >= 1 && l.Healthy() })
	if r := mustSend(t, l, purchase("000001", 1000)); r.ResponseCode != "00" {
		t.Errorf("RC %s", r.ResponseCode)
	}
}

// TestLinkInFlight: a second copy of an identity still waiting is refused
// unsent.
func TestLinkInFlight(t *testing.T) {
	s := startSim(t, sim.Config{Latency: sim.Latency{Min: 200 * time.Millisecond, Max: 200 * time.Millisecond}})
	l := openLink(t, s.Addr(), func(c *Config) { c.Conns = 1 })
	done := make(chan error, 1)
	go func() { _, err := l.Send(context.Background(), purchase("000001", 1000)); done <- err }()
	waitFor(t, "first copy at the host", func() bool { return s.Stats().Requests == 1 })
	if _, err := l.Send(context.Background(), purchase("000001", 1000)); !errors.Is(err, ErrInFlight) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("second copy: %v, want ErrInFlight and ErrUnavailable", err)
	}
	if err := <-done; err != nil {
		t.Errorf("first copy: %v", err)
	}
}

// TestLinkSurvivesGarbageAtSim: another client's malformed bytes do not
// disturb the link's connections.
func TestLinkSurvivesGarbageAtSim(t *testing.T) {
	s := startSim(t, sim.Config{})
	l := openLink(t, s.Addr(), nil)
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte{0, 4, 'G', 'A', 'R', 'B', 0xff, 0xff})
	buf := make([]byte, 16)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(buf); err == nil {
		t.Error("garbage client still connected")
	}
	if r := mustSend(t, l, purchase("000001", 1000)); r.ResponseCode != "00" {
		t.Errorf("RC %s", r.ResponseCode)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err == nil {
		t.Error("default config without address is valid")
	}
	c := DefaultConfig()
	c.Addr = "x:1"
	if err := c.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	c.Conns = 1000
	if _, err := Open(c); err == nil {
		t.Error("Open accepted 1000 conns")
	}
}

// TestLinkSendRightAfterOpen: a request sent before the first dial has
// finished waits for it instead of failing.
func TestLinkSendRightAfterOpen(t *testing.T) {
	s := startSim(t, sim.Config{})
	l, err := Open(Config{Addr: s.Addr(), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r := mustSend(t, l, purchase("000001", 1000)); r.ResponseCode != "00" {
		t.Errorf("RC %s", r.ResponseCode)
	}
}

// TestLinkCloseWithWaiters: requests written before Close end with an
// unknown outcome, not a false "not sent".
func TestLinkCloseWithWaiters(t *testing.T) {
	s := startSim(t, sim.Config{})
	s.SetFault(sim.Fault{DropAnswers: true})
	l := openLink(t, s.Addr(), nil)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Send(context.Background(), purchase("000001", 1000))
		errc <- err
	}()
	waitFor(t, "request at the host", func() bool { return s.Stats().Requests == 1 })
	l.Close()
	if err := <-errc; !errors.Is(err, ErrConnLost) || errors.Is(err, ErrUnavailable) {
		t.Errorf("err %v, want ErrConnLost", err)
	}
}

func TestLinkHexASCIIDialect(t *testing.T) {
	d := wire.Dialect{Bitmap: wire.BitmapHex, Header: wire.HeaderASCII4, MaxFrame: 2048}
	s := startSim(t, sim.Config{Dialect: d})
	l := openLink(t, s.Addr(), func(c *Config) { c.Dialect = d })
	if r := mustSend(t, l, purchase("000001", 1051)); r.ResponseCode != "51" || r.STAN != "000001" {
		t.Errorf("RC %s STAN %s", r.ResponseCode, r.STAN)
	}
}
