package sim

import (
	"bytes"
	"flag"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// acquirerGolden is shared with package settle, whose ReadAcquirerCSV must
// read exactly what WriteSettlementCSV writes.
const acquirerGolden = "../../settle/testdata/acquirer.csv"

var update = flag.Bool("update", false, "rewrite the golden files")

// stepClock returns base, base+1s, base+2s, ...: one step per request.
func stepClock(base time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)-1) * time.Second) }
}

// TestSettlementExport drives every kind of request through the simulator
// and checks which become rows of the window's settlement, and the bytes.
func TestSettlementExport(t *testing.T) {
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	s, err := open(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dialect: wire.DefaultDialect()}, stepClock(base))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := dial(t, s)
	refund := purchase("000002", 300)
	refund.ProcCode = "200000"
	reversedLater := purchase("000011", 900)
	preauth := purchase("000006", 5000)
	preauth.MTI = "0100"
	completion := purchase("000007", 4500)
	completion.MTI, completion.OriginalData = "0220", "0100"+"000006"+testDE7+strings.Repeat("0", 22)
	advice := purchase("000008", 250)
	advice.MTI, advice.OriginalData = "0220", "0200"+"000009"+testDE7+strings.Repeat("0", 22)
	advice.RRN, advice.AuthCode = "607300000009", "123456"
	balance := purchase("000010", 0)
	balance.ProcCode, balance.HasAmount = "310000", false
	for i, m := range []*wire.Message{
		purchase("000001", 1000), refund, purchase("000003", 700), reversalOf(purchase("000003", 700), "000004"),
		purchase("000005", 1051), preauth, completion, advice, balance, reversedLater,
		// after the window's end (base+10s):
		reversalOf(reversedLater, "000012"), purchase("000013", 800),
	} {
		if got := c.roundTrip(m); got.ResponseCode != map[bool]string{true: "51", false: "00"}[i == 4] {
			t.Fatalf("request %d (%s %s): RC %s", i, m.MTI, m.STAN, got.ResponseCode)
		}
	}
	from, to := base, base.Add(10*time.Second)
	rows, err := s.Settlement(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.MTI+" "+r.STAN+" "+r.Kind+" "+r.Status)
	}
	want := []string{
		"0200 000001 purchase approved", "0200 000002 refund approved", "0200 000003 purchase reversed",
		"0220 000007 completion approved", "0220 000008 purchase approved", "0200 000011 purchase approved",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := rows[4]; !r.StandIn || r.RRN != "607300000009" || r.AuthCode != "123456" || r.TerminalID != "TERM0001" {
		t.Errorf("stand-in row %+v", r)
	}

	var buf bytes.Buffer
	if err := WriteSettlementCSV(&buf, rows, from, to); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	wantTrailer := "TRAILER,6,6950,700,6350,2026-03-14T10:00:00Z,2026-03-14T10:00:10Z"
	if lines[0] != SettlementColumns || lines[len(lines)-1] != wantTrailer {
		t.Errorf("header %q trailer %q, want %q and %q", lines[0], lines[len(lines)-1], SettlementColumns, wantTrailer)
	}
	compareGolden(t, acquirerGolden, buf.Bytes())

	// A later window holds the purchase received after the first one's
	// end, and the reversal now shows on the earlier window's row only
	// when that window's end is after it.
	rows, err = s.Settlement(from, base.Add(time.Hour))
	if err != nil || len(rows) != 7 || rows[5].Status != StatusReversed {
		t.Errorf("wider window: %d rows (err %v), want 7 with 000011 reversed", len(rows), err)
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s:\n%s\nwant\n%s", path, got, want)
	}
}

// TestSettlementAdviceSharesRRN: the host approved a purchase whose answer
// came too late, the client reversed that attempt (0420) and sent its
// stand-in advice with the same RRN: one row, the advice's. Two approvals
// stay two rows, and an advice with another RRN folds nothing.
func TestSettlementAdviceSharesRRN(t *testing.T) {
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	p := purchase("000001", 700)
	p.RRN = "607300000001"
	reversal := reversalOf(p, "000002")
	reversal.MTI = "0420"
	other := standInAdviceOf(p, "000003")
	other.RRN = "607300000099"
	tests := []struct {
		name   string
		frames []*wire.Message
		rows   []string // MTI STAN status
	}{
		{"reversed attempt, then its advice", []*wire.Message{p, reversal, standInAdviceOf(p, "000003")},
			[]string{"0220 000003 approved"}},
		{"advice, then the attempt's reversal", []*wire.Message{p, standInAdviceOf(p, "000003"), reversal},
			[]string{"0220 000003 approved"}},
		{"two approvals", []*wire.Message{p, standInAdviceOf(p, "000003")},
			[]string{"0200 000001 approved", "0220 000003 approved"}},
		{"another RRN", []*wire.Message{p, reversal, other},
			[]string{"0200 000001 reversed", "0220 000003 approved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := open(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dialect: wire.DefaultDialect()}, stepClock(base))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := dial(t, s)
			for _, m := range tt.frames {
				if got := c.roundTrip(m); got.ResponseCode != "00" {
					t.Fatalf("%s %s: RC %s", m.MTI, m.STAN, got.ResponseCode)
				}
			}
			rows, err := s.Settlement(base, base.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.MTI+" "+r.STAN+" "+r.Status)
			}
			if !slices.Equal(got, tt.rows) {
				t.Errorf("rows %q, want %q", got, tt.rows)
			}
		})
	}
}
