package sim

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

func strictConfig() Config {
	return Config{Strict: true, StrictConfig: StrictConfig{EchoEvery: time.Hour}}
}

func repeatOf(m *wire.Message) *wire.Message {
	r := *m
	r.MTI = wire.RepeatMTI(m.MTI)
	return &r
}

// TestStrictDuplicates: an original MTI of a known identity is a duplicate
// transmission (94, no effect, counted on the record as refused); a repeat
// gets the recorded answer.
func TestStrictDuplicates(t *testing.T) {
	p, dec := purchase("000001", 1000), purchase("000002", 1051)
	rev := reversalOf(p, "000003")
	adv := standInAdviceOf(purchase("000004", 300), "000005")
	tests := []struct {
		name    string
		frames  []*wire.Message
		rcs     []string
		counted *wire.Message // whose record is checked
		n       [3]int64      // its requests, repeats, refused
		net     Sum           // purchase totals at the end
	}{
		{"original twice", []*wire.Message{p, p}, []string{"00", "94"}, p, [3]int64{1, 0, 1}, Sum{1, 1000}},
		{"repeat", []*wire.Message{p, repeatOf(p), repeatOf(p)}, []string{"00", "00", "00"}, p, [3]int64{3, 2, 0}, Sum{1, 1000}},
		{"repeat first", []*wire.Message{repeatOf(p), p}, []string{"00", "94"}, p, [3]int64{1, 1, 1}, Sum{1, 1000}},
		{"decline twice", []*wire.Message{dec, dec}, []string{"51", "94"}, dec, [3]int64{1, 0, 1}, Sum{}},
		{"reversal twice", []*wire.Message{p, rev, rev, repeatOf(rev)}, []string{"00", "00", "94", "00"}, rev, [3]int64{2, 1, 1}, Sum{}},
		{"advice twice", []*wire.Message{adv, adv, repeatOf(adv)}, []string{"00", "94", "00"}, adv, [3]int64{2, 1, 1}, Sum{1, 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpen(t, strictConfig())
			c := dial(t, s)
			var refused int64
			for i, m := range tt.frames {
				got := c.roundTrip(m)
				if got.ResponseCode != tt.rcs[i] || got.MTI != wire.ResponseMTI(m.MTI) {
					t.Fatalf("frame %d (%s): %s RC %s, want RC %s", i, m.MTI, got.MTI, got.ResponseCode, tt.rcs[i])
				}
				if got.ResponseCode == "94" {
					refused++
					if got.AuthCode != "" {
						t.Errorf("94 with auth code %q", got.AuthCode)
					}
				}
			}
			r := mustLedger(t, s)[key(tt.counted)]
			if got := [3]int64{r.Requests, r.Repeats, r.Refused}; got != tt.n {
				t.Errorf("requests/repeats/refused %v, want %v", got, tt.n)
			}
			if got := mustTotals(t, s)[KindPurchase]; got != tt.net {
				t.Errorf("purchase totals %v, want %v", got, tt.net)
			}
			if st := s.Stats(); st.Refused != refused || st.STANReuse != 0 {
				t.Errorf("stats refused %d stan reuse %d, want %d and 0", st.Refused, st.STANReuse, refused)
			}
		})
	}
}

// TestStrictDupWindow: an identity older than the window is new again: the
// host processes it a second time (two approvals), keeping the first
// record under an archive key.
func TestStrictDupWindow(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)}
	cfg := strictConfig()
	cfg.StrictConfig.DupWindow = time.Hour
	s := mustOpenAt(t, cfg, clock.Now)
	c := dial(t, s)
	p := purchase("000001", 1000)
	first := clock.Now().UnixNano()
	c.roundTrip(p)
	clock.Add(59 * time.Minute)
	if got := c.roundTrip(p); got.ResponseCode != "94" {
		t.Fatalf("within the window: RC %s, want 94", got.ResponseCode)
	}
	clock.Add(2 * time.Minute)
	if got := c.roundTrip(p); got.ResponseCode != "00" {
		t.Fatalf("after the window: RC %s, want 00 (processed as new)", got.ResponseCode)
	}
	l := mustLedger(t, s)
	old, cur := l[archiveKey(key(p), first)], l[key(p)]
	if len(l) != 2 || old.Requests != 1 || old.Refused != 1 || cur.Requests != 1 || cur.Refused != 0 {
		t.Fatalf("ledger %+v; want the first record archived (1 request, 1 refused) and a new one", l)
	}
	if got := mustTotals(t, s)[KindPurchase]; got != (Sum{2, 2000}) {
		t.Errorf("totals %v, want two approvals", got)
	}
	// The forgotten one's repeat within the new window is the new one's.
	if got := c.roundTrip(repeatOf(p)); got.ResponseCode != "00" || mustLedger(t, s)[key(p)].Repeats != 1 {
		t.Errorf("repeat: RC %s, record %+v", got.ResponseCode, mustLedger(t, s)[key(p)])
	}
}

// TestStrictUnknownOriginal: a reversal or completion naming an original
// the host does not know is answered 25 and forgotten: nothing is stored,
// no tombstone waits for the original.
func TestStrictUnknownOriginal(t *testing.T) {
	preauth, known := purchase("000010", 5000), purchase("000011", 700)
	preauth.MTI = "0100"
	completionOf := func(orig *wire.Message, stan string) *wire.Message {
		m := purchase(stan, orig.Amount)
		m.MTI, m.OriginalData = "0220", orig.MTI+orig.STAN+orig.TransmissionTime+strings.Repeat("0", 22)
		return m
	}
	never := purchase("000001", 1000)
	advice := reversalOf(never, "000003")
	advice.MTI = "0420"
	tests := []struct {
		name   string
		before []*wire.Message
		m      *wire.Message
		mti    string
		rc     string
		stored bool
	}{
		{"reversal of an unknown original", nil, reversalOf(never, "000002"), "0410", "25", false},
		{"reversal advice of an unknown original", nil, advice, "0430", "25", false},
		{"completion of an unknown pre-auth", nil, completionOf(preauth, "000004"), "0230", "25", false},
		{"completion of a known pre-auth", []*wire.Message{preauth}, completionOf(preauth, "000005"), "0230", "00", true},
		{"reversal of a known original", []*wire.Message{known}, reversalOf(known, "000006"), "0410", "00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpen(t, strictConfig())
			c := dial(t, s)
			for _, m := range tt.before {
				c.roundTrip(m)
			}
			got := c.roundTrip(tt.m)
			if got.MTI != tt.mti || got.ResponseCode != tt.rc || got.AuthCode != "" && tt.rc != "00" {
				t.Fatalf("answered %s %s %q, want %s %s", got.MTI, got.ResponseCode, got.AuthCode, tt.mti, tt.rc)
			}
			if _, ok := mustLedger(t, s)[key(tt.m)]; ok != tt.stored {
				t.Errorf("stored %v, want %v", ok, tt.stored)
			}
			if want := len(tt.before) + map[bool]int{true: 1}[tt.stored]; len(mustLedger(t, s)) != want {
				t.Errorf("ledger %+v, want %d records", mustLedger(t, s), want)
			}
			if st, want := s.Stats(), map[bool]int64{true: 1}[tt.rc == "25"]; st.UnknownOriginal != want {
				t.Errorf("unknown originals %d, want %d", st.UnknownOriginal, want)
			}
		})
	}
	// The original arriving after its reversal was refused is an ordinary
	// approval: the host forgot the reversal.
	s := mustOpen(t, strictConfig())
	c := dial(t, s)
	c.roundTrip(reversalOf(never, "000002"))
	if got := c.roundTrip(never); got.ResponseCode != "00" {
		t.Fatalf("late original: RC %s", got.ResponseCode)
	}
	if got := mustTotals(t, s)[KindPurchase]; got != (Sum{1, 1000}) {
		t.Errorf("totals %v: the late original must stand", got)
	}
}

// TestStrictSTANReuse: DE41+DE11 used the same UTC day with another DE7,
// in any class, is refused 94 and shows in the ledger under the refused
// frame's identity; other days and other STANs are not affected.
func TestStrictSTANReuse(t *testing.T) {
	clock := &manualClock{now: time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)}
	s := mustOpenAt(t, strictConfig(), clock.Now)
	c := dial(t, s)
	withDE7 := func(m *wire.Message, de7 string) *wire.Message { m.TransmissionTime = de7; return m }
	p1 := purchase("000001", 1000)
	p2 := withDE7(purchase("000001", 2000), "0314080001")
	rev := withDE7(reversalOf(p1, "000001"), "0314080002")
	steps := []struct {
		name string
		m    *wire.Message
		rc   string
	}{
		{"first use", p1, "00"},
		{"same STAN, another DE7", p2, "94"},
		{"its repeat", repeatOf(p2), "94"},
		{"the first use's repeat", repeatOf(p1), "00"},
		{"another class", rev, "94"},
		{"another STAN", withDE7(purchase("000002", 500), testDE7), "00"},
	}
	for _, st := range steps {
		if got := c.roundTrip(st.m); got.ResponseCode != st.rc {
			t.Fatalf("%s: RC %s, want %s", st.name, got.ResponseCode, st.rc)
		}
	}
	l := mustLedger(t, s)
	want := LedgerRecord{Key: key(p2), Class: "0200", Kind: KindPurchase, Amount: 2000, RC: "94", RRN: assignRRN(key(p2)),
		Day: "20260314", Refused: 2}
	if l[key(p2)] != want {
		t.Errorf("refused record\n%+v, want\n%+v", l[key(p2)], want)
	}
	if r := l[key(p1)]; r.Reversed || r.Requests != 2 {
		t.Errorf("first use %+v: the refused reversal must not reverse it", r)
	}
	clock.Add(24 * time.Hour)
	if got := c.roundTrip(withDE7(purchase("000001", 300), "0315080000")); got.ResponseCode != "00" {
		t.Errorf("next day: RC %s, want 00", got.ResponseCode)
	}
	if st := s.Stats(); st.Refused != 3 || st.STANReuse != 3 {
		t.Errorf("refused %d, stan reuse %d; want 3 and 3", st.Refused, st.STANReuse)
	}
	if got := mustTotals(t, s)[KindPurchase]; got != (Sum{3, 1800}) {
		t.Errorf("totals %v", got)
	}
}

// echoAnswerer reads c, answers the host's 0800s with 0810s and hands
// every other message to the returned channel, until the connection ends.
func echoAnswerer(c *client) <-chan *wire.Message {
	out := make(chan *wire.Message, 16)
	go func() {
		defer close(out)
		for {
			p, err := c.readFrame(time.Minute)
			if err != nil {
				return
			}
			m, err := c.codec.Unpack(p)
			if err != nil {
				return
			}
			if m.MTI != "0800" {
				out <- m
				continue
			}
			frame, err := c.codec.PackFrame(nil, &wire.Message{MTI: "0810", TransmissionTime: m.TransmissionTime,
				STAN: m.STAN, NetworkCode: m.NetworkCode, ResponseCode: "00"})
			if err != nil {
				return
			}
			if _, err := c.nc.Write(frame); err != nil {
				return
			}
		}
	}()
	return out
}

// TestStrictHostEcho: the host echoes every connection; one that answers
// stays up and is served, one that does not is closed and counted.
func TestStrictHostEcho(t *testing.T) {
	cfg := Config{Strict: true, StrictConfig: StrictConfig{EchoEvery: 10 * time.Millisecond, EchoTimeout: 5 * time.Second}}
	s := mustOpen(t, cfg)
	c := dial(t, s)
	answers := echoAnswerer(c)
	waitFor(t, "four host echoes answered", func() bool { return s.Stats().HostEchoes >= 4 })
	c.send(purchase("000001", 1000))
	if got := <-answers; got == nil || got.MTI != "0210" || got.ResponseCode != "00" {
		t.Fatalf("purchase between echoes: %+v", got)
	}
	if st := s.Stats(); st.HostEchoTimeouts != 0 || st.Conns != 1 || st.Malformed != 0 {
		t.Errorf("stats %+v: an answering client must stay, its 0810s not counted malformed", st)
	}

	cfg.StrictConfig.EchoTimeout = 50 * time.Millisecond
	s2 := mustOpen(t, cfg)
	silent := dial(t, s2)
	var echoes int
	for {
		p, err := silent.readFrame(5 * time.Second)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read: %v, want the host's echo then EOF", err)
		}
		m, err := silent.codec.Unpack(p)
		if err != nil {
			t.Fatal(err)
		}
		want := &wire.Message{MTI: "0800", TransmissionTime: m.TransmissionTime, STAN: m.STAN, NetworkCode: "301"}
		if !reflect.DeepEqual(m, want) || len(m.TransmissionTime) != 10 || len(m.STAN) != 6 {
			t.Fatalf("host echo %+v", m)
		}
		echoes++
	}
	if echoes != 1 {
		t.Errorf("%d echoes before the close, want 1", echoes)
	}
	waitFor(t, "the close counted", func() bool { return s2.Stats().HostEchoTimeouts == 1 && s2.Stats().Conns == 0 })
}

// TestStrictConfigValidate: negative durations are refused, zero ones
// take the defaults.
func TestStrictConfigValidate(t *testing.T) {
	if _, err := Open(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Strict: true,
		StrictConfig: StrictConfig{EchoTimeout: -1}}); err == nil {
		t.Error("negative echo timeout accepted")
	}
	want := StrictConfig{DupWindow: DefaultDupWindow, EchoEvery: DefaultEchoEvery, EchoTimeout: DefaultEchoTimeout}
	if got := (StrictConfig{}).withDefaults(); got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
}
