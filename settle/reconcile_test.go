package settle

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/tillgate/tillgate/wire"
)

// theirsOf is the acquirer's view of our non-reversal rows: approved and
// reversed alike.
func theirsOf(f *File) *AcquirerFile {
	a := &AcquirerFile{Acquirer: f.Acquirer, From: f.OpenedAt, To: f.ClosedAt}
	for _, r := range f.Rows {
		if r.Type == TypeReversal {
			continue
		}
		a.Rows = append(a.Rows, AcquirerRow{RRN: r.RRN, TerminalID: r.TerminalID, STAN: r.AcqSTAN, TransmissionTime: r.AcqTime,
			MTI: r.MTI, Kind: r.Type, Amount: r.Amount, Status: r.Status, RC: "00", AuthCode: r.AuthCode, StandIn: r.StandIn, ReceivedAt: r.At})
	}
	return a
}

func balanced() Batch {
	t := wire.Totals{DebitsCount: 4, DebitsAmount: 7750, CreditsCount: 1, CreditsAmount: 300, NetAmount: 7450}
	return Batch{Terminal: "TERM0001", Number: 3, Status: BatchClosed, Register: t, Ours: t, HasRegister: true}
}

func kinds(r *Report) string {
	var out []string
	for _, d := range r.Discrepancies {
		out = append(out, d.Kind+":"+d.RRN)
	}
	return strings.Join(out, " ")
}

func TestReconcile(t *testing.T) {
	const info = "cross_day_reversal:000000000029"
	tests := []struct {
		name       string
		edit       func(in *Input)
		want       string // kind:RRN of each discrepancy, in report order
		reconciled bool
	}{
		{"agree", func(in *Input) {}, info, true},
		{"missing at acquirer", func(in *Input) { in.Theirs.Rows = in.Theirs.Rows[1:] }, "missing_at_acquirer:000000000011 " + info, false},
		{"stand-in missing at acquirer", func(in *Input) { in.Theirs.Rows = append(in.Theirs.Rows[:5:5], in.Theirs.Rows[6:]...) },
			"missing_at_acquirer:000000000026 " + info, false},
		{"reversed here, never at the acquirer", func(in *Input) { in.Theirs.Rows = append(in.Theirs.Rows[:4:4], in.Theirs.Rows[5:]...) },
			"reversed_not_at_acquirer:000000000023 " + info, true},
		{"missing here", func(in *Input) {
			in.Theirs.Rows = append(in.Theirs.Rows, AcquirerRow{RRN: "999999999999", TerminalID: "TERM0002", Kind: "purchase", Amount: 5, Status: "approved"})
		}, "missing_here:999999999999 " + info, false},
		{"in another day", func(in *Input) {
			in.Theirs.Rows = append(in.Theirs.Rows, AcquirerRow{RRN: "999999999999", TerminalID: "TERM0002", Kind: "purchase", Amount: 5, Status: "approved"})
			in.Elsewhere = func(rrn string) (string, bool) { return "20260315", rrn == "999999999999" }
		}, info, true},
		{"amount mismatch", func(in *Input) { in.Theirs.Rows[2].Amount = 2001 }, "amount_mismatch:000000000017 " + info, false},
		{"reversed at the acquirer only", func(in *Input) { in.Theirs.Rows[0].Status = StatusReversed },
			"reversed_one_side:000000000011 " + info, false},
		{"reversal not delivered", func(in *Input) { in.Theirs.Rows[4].Status = StatusApproved },
			"reversed_one_side:000000000023 " + info, false},
		{"terminal differs", func(in *Input) { in.Theirs.Rows[0].TerminalID = "TERM0009" },
			"missing_at_acquirer:000000000011 missing_here:000000000011 " + info, false},
		{"batch out of balance", func(in *Input) { in.Batches[0].Register.DebitsAmount = 7000 },
			"batch_out_of_balance: " + info, false},
		{"batch marked out of balance", func(in *Input) { in.Batches[0].Status = BatchOutOfBalance },
			"batch_out_of_balance: " + info, false},
		{"closed by operator with a difference", func(in *Input) {
			in.Batches[0].Status, in.Batches[0].Register.CreditsCount = BatchClosedByOperator, 2
		}, "batch_out_of_balance: " + info, false},
		{"closed after upload, balanced", func(in *Input) { in.Batches[0].Status = BatchClosedAfterUpload }, info, true},
		{"closed by operator without a 0500", func(in *Input) {
			in.Batches[0].Status, in.Batches[0].HasRegister, in.Batches[0].Register = BatchClosedByOperator, false, wire.Totals{}
		}, info, true},
		{"batch open", func(in *Input) {
			in.Batches[0].Status, in.Batches[0].HasRegister, in.Batches[0].Register = BatchOpen, false, wire.Totals{}
		}, "batch_open: " + info, true},
		{"order: kind, then RRN", func(in *Input) {
			in.Theirs.Rows[2].Amount, in.Theirs.Rows[0].Amount = 1, 2
			in.Theirs.Rows = in.Theirs.Rows[:4]
		}, "missing_at_acquirer:000000000026 amount_mismatch:000000000011 amount_mismatch:000000000017 reversed_not_at_acquirer:000000000023 " + info, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fixture()
			in := Input{Ours: f, Theirs: theirsOf(f), Batches: []Batch{balanced()}}
			tt.edit(&in)
			r := Reconcile(in)
			if got := kinds(r); got != tt.want || r.Reconciled != tt.reconciled {
				t.Errorf("discrepancies %q reconciled %v\nwant          %q reconciled %v", got, r.Reconciled, tt.want, tt.reconciled)
			}
		})
	}
}

// TestReportNamesMismatch forces an amount mismatch on one RRN: both
// reports must name it, with both amounts.
func TestReportNamesMismatch(t *testing.T) {
	f := fixture()
	theirs := theirsOf(f)
	theirs.Rows[1].Amount = 350
	r := Reconcile(Input{Ours: f, Theirs: theirs, Batches: []Batch{balanced()}})
	if r.Reconciled || r.Matched != 5 || r.Ours.Net != 7450 || r.Theirs.Net != 7400 || r.CrossDay.Net != -900 {
		t.Fatalf("reconciled %v matched %d nets %d %d %d", r.Reconciled, r.Matched, r.Ours.Net, r.Theirs.Net, r.CrossDay.Net)
	}
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "report.txt", text.Bytes())
	compareGolden(t, "report.json", js.Bytes())
	first := strings.SplitN(text.String(), "\n", 2)[0]
	if !strings.HasPrefix(first, "NOT RECONCILED") {
		t.Errorf("first line %q", first)
	}
	for _, out := range []string{text.String(), js.String()} {
		if !strings.Contains(out, "000000000014") || !strings.Contains(out, "amount 300 here, 350 at the acquirer") {
			t.Errorf("report does not name the mismatch:\n%s", out)
		}
	}
}

// TestReadAcquirerGolden reads the file acquirer/sim's test writes with
// sim.WriteSettlementCSV: the two packages agree on the format.
func TestReadAcquirerGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/acquirer.csv")
	if err != nil {
		t.Fatal(err)
	}
	a, err := ReadAcquirerCSV(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Rows) != 6 || a.Rows[2].Status != StatusReversed || a.Rows[2].ReversedAt == 0 || !a.Rows[4].StandIn || a.Rows[1].Kind != TypeRefund {
		t.Errorf("rows %+v", a.Rows)
	}
	if a.To-a.From != 10e9 {
		t.Errorf("window %d..%d", a.From, a.To)
	}
	for _, tt := range []struct{ old, new, want string }{
		{"TRAILER,6,6950,", "TRAILER,6,6951,", "approved amount 6951 in the trailer, 6950 in the rows"},
		{",300,approved,", ",300,settled,", `status "settled"`},
		{"\nTRAILER", "\n#TRAILER", "fields"},
		{"rrn,terminal", "rrn,term", "header"},
	} {
		_, err := ReadAcquirerCSV(strings.NewReader(strings.Replace(string(raw), tt.old, tt.new, 1)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q -> %q: %v, want %q", tt.old, tt.new, err, tt.want)
		}
	}
}
