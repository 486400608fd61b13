package settle

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// at is 2026-03-14 UTC plus the given minutes, in unix nanos (with a
// fraction, to show RFC3339Nano).
func at(min int) int64 {
	return time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC).Add(time.Duration(min)*time.Minute + 123456789).UnixNano()
}

// fixture is a day with one row of every sort: purchase, refund, cashback,
// completion, a reversed purchase, a stand-in approval and a reversal of
// an earlier day's purchase. The merchant name has a comma and quotes.
func fixture() *File {
	row := func(seq uint64, rrn, stan, typ, mti, proc string, amount, net int64, status string) Row {
		return Row{
			Seq: seq, RRN: rrn, TerminalID: "TERM0001", MerchantID: `ACME, "Main St"`, STAN: stan,
			TransmissionTime: "0314100000", AcqSTAN: "1" + stan[1:], AcqTime: "0314100001", Type: typ, MTI: mti,
			ProcCode: proc, Amount: amount, Currency: "978", Status: status, RC: "00", AuthCode: "A" + stan[1:],
			Net: net, At: at(int(seq)),
		}
	}
	rows := []Row{
		row(11, "000000000011", "000001", TypePurchase, "0200", "000000", 1000, 1000, StatusApproved),
		row(14, "000000000014", "000002", TypeRefund, "0200", "200000", 300, -300, StatusApproved),
		row(17, "000000000017", "000003", TypeCashback, "0200", "090000", 2000, 2000, StatusApproved),
		row(20, "000000000020", "000004", TypeCompletion, "0220", "000000", 4500, 4500, StatusApproved),
		row(23, "000000000023", "000005", TypePurchase, "0200", "000000", 700, 0, StatusReversed),
		row(26, "000000000026", "000006", TypePurchase, "0200", "000000", 250, 250, StatusApproved),
		row(29, "000000000029", "000007", TypeReversal, "0400", "000000", 900, -900, StatusApproved),
	}
	rows[3].OriginalRRN = "000000000008"
	rows[4].RC = "" // unknown outcome: tillgate owes its reversal
	rows[5].StandIn = true
	rows[6].OriginalRRN, rows[6].OriginalDay, rows[6].AuthCode = "000000000003", "20260313", ""
	return &File{Day: "20260314", Acquirer: "acq1", OpenedAt: at(0), ClosedAt: at(24*60 - 1), Index: 31, Rows: rows}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
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

func TestGolden(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(*bytes.Buffer, *File) error
	}{
		{"day.csv", func(b *bytes.Buffer, f *File) error { return WriteCSV(b, f) }},
		{"day.json", func(b *bytes.Buffer, f *File) error { return WriteJSON(b, f) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := tt.write(&a, fixture()); err != nil {
				t.Fatal(err)
			}
			if err := tt.write(&b, fixture()); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("two writes differ (err %v)", err)
			}
			compareGolden(t, tt.name, a.Bytes())
		})
	}
}

func TestTrailer(t *testing.T) {
	want := Trailer{Rows: 7, Debits: 4, DebitAmount: 7750, Credits: 1, CreditAmount: 300, Reversed: 1, ReversedAmount: 700,
		Reversals: 1, ReversalAmount: 900, Net: 6550}
	if got := fixture().Trailer(); got != want {
		t.Errorf("trailer %+v\nwant    %+v", got, want)
	}
}

func TestCSVRoundTrip(t *testing.T) {
	for _, f := range []*File{fixture(), {Day: "20260315", Acquirer: "empty"}} {
		var buf bytes.Buffer
		if err := WriteCSV(&buf, f); err != nil {
			t.Fatal(err)
		}
		got, err := ReadCSV(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip\n got %+v\nwant %+v", got, f)
		}
	}
}

// doctor replaces old with new in the CSV of the fixture.
func doctor(t *testing.T, old, new string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteCSV(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), old) {
		t.Fatalf("%q not in the file", old)
	}
	return strings.Replace(buf.String(), old, new, 1)
}

func TestReadCSVRejects(t *testing.T) {
	trailer := "TRAILER,20260314,acq1,2026-03-14T00:00:00.123456789Z,2026-03-14T23:59:00.123456789Z,31,7,4,7750,1,300,1,700,1,900,6550\n"
	tests := []struct {
		name, in, want string
	}{
		{"doctored trailer", doctor(t, trailer, strings.Replace(trailer, ",4,7750,", ",4,7751,", 1)),
			"debit_amount 7751 in the trailer, 7750 in the rows"},
		{"doctored amount", doctor(t, ",1000,978,", ",1001,978,"), "net 1000, want 1001"},
		{"doctored amount and net", doctor(t, ",1000,978,approved,00,A00001,false,,,1000,", ",1001,978,approved,00,A00001,false,,,1001,"),
			"debit_amount 7750 in the trailer, 7751 in the rows; net 6550 in the trailer, 6551 in the rows"},
		{"row removed", doctor(t, "17,000000000017", "x"), "header"},
		{"no trailer", doctor(t, trailer, ""), "no trailer"},
		{"after trailer", doctor(t, trailer, trailer+"1,2\n"), "data after the trailer"},
		{"bad header", doctor(t, "seq,rrn", "seq,RRN"), "header"},
		{"bad amount", doctor(t, ",1000,978,", ",ten,978,"), "line 2: amount"},
	}
	tests[3].in = doctor(t, "17,000000000017,TERM0001", "17,000000000017,TERM0001,extra")
	tests[3].want = "line 4: 22 fields, want 21"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadCSV: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(f *File)
	}{
		{"seq order", func(f *File) { f.Rows[1].Seq = 11 }},
		{"negative amount", func(f *File) { f.Rows[0].Amount, f.Rows[0].Net = -5, -5 }},
		{"wrong net", func(f *File) { f.Rows[1].Net = 300 }},
		{"reversed with a net", func(f *File) { f.Rows[4].Net = 700 }},
		{"reversal net", func(f *File) { f.Rows[6].Net = -800 }},
		{"reversed reversal", func(f *File) { f.Rows[6].Status = StatusReversed }},
		{"type", func(f *File) { f.Rows[0].Type = "preauth" }},
		{"status", func(f *File) { f.Rows[0].Status = "declined" }},
	}
	for _, tt := range tests {
		f := fixture()
		tt.edit(f)
		if err := WriteCSV(&bytes.Buffer{}, f); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: WriteCSV %v, want ErrInvalid", tt.name, err)
		}
		if err := WriteJSON(&bytes.Buffer{}, f); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: WriteJSON %v, want ErrInvalid", tt.name, err)
		}
	}
}
