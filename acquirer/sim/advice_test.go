package sim

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tillgate/tillgate/wire"
)

// TestStandInAdviceOwnIdentity: a stand-in advice is booked under its own
// identity (class 0220, the kind of its DE3, its DE38), whatever the host
// knows of the original, which it leaves alone.
func TestStandInAdviceOwnIdentity(t *testing.T) {
	tests := []struct {
		name     string
		orig     *wire.Message
		sendOrig bool   // the original reached the host first
		origRC   string // the original's record afterwards ("" none)
		edit     func(a *wire.Message)
		kind     string
		auth     string // "" : generated (6 digits)
	}{
		{"never seen", purchase("000001", 1000), false, "", nil, KindPurchase, "S00001"},
		{"declined here", purchase("000002", 2051), true, "51", nil, KindPurchase, "S00001"},
		{"approved here too", purchase("000003", 300), true, "00", nil, KindPurchase, "S00001"},
		{"refund", purchase("000004", 400), false, "", func(a *wire.Message) { a.ProcCode = "200000" }, KindRefund, "S00001"},
		{"no DE38", purchase("000005", 500), false, "", func(a *wire.Message) { a.AuthCode = "" }, KindPurchase, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustOpen(t, Config{})
			c := dial(t, s)
			if tt.sendOrig {
				c.roundTrip(tt.orig)
			}
			a := standInAdviceOf(tt.orig, stan6(500001+i))
			if tt.edit != nil {
				tt.edit(a)
			}
			got := c.roundTrip(a)
			rec := mustLedger(t, s)[key(a)]
			if got.MTI != "0230" || got.ResponseCode != "00" || got.AuthCode != rec.AuthCode || len(rec.AuthCode) != 6 ||
				(tt.auth != "" && rec.AuthCode != tt.auth) {
				t.Fatalf("answered %s %s auth %q; record auth %q, want %q", got.MTI, got.ResponseCode, got.AuthCode, rec.AuthCode, tt.auth)
			}
			want := LedgerRecord{Key: key(a), Class: "0220", Kind: tt.kind, Amount: a.Amount, RC: "00", AuthCode: rec.AuthCode,
				RRN: assignRRN(key(a)), Day: rec.Day, Original: key(tt.orig), StandIn: true, Advice: true, Requests: 1}
			if rec != want {
				t.Errorf("advice record\n%+v, want\n%+v", rec, want)
			}
			o, ok := mustLedger(t, s)[key(tt.orig)]
			if ok != (tt.origRC != "") || o.RC != tt.origRC || o.Advice || o.Requests > 1 {
				t.Errorf("original record %+v (present %v), want RC %q untouched", o, ok, tt.origRC)
			}
		})
	}
}

// TestAdviceTotals: advices count as approvals in Totals and TotalsByDay;
// a repeat of one is answered from the ledger and counted on its record.
func TestAdviceTotals(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	approved := purchase("000001", 300)
	c.roundTrip(approved)
	a := standInAdviceOf(approved, "500001")
	c.roundTrip(a)
	rep := *a
	rep.MTI = "0221"
	if got := c.roundTrip(&rep); got.MTI != "0230" || got.ResponseCode != "00" || got.AuthCode != "S00001" {
		t.Fatalf("repeat answered %s %s %q", got.MTI, got.ResponseCode, got.AuthCode)
	}
	c.roundTrip(standInAdviceOf(purchase("000002", 700), "500002"))
	// Two approvals of 000001 (the host's and the stand-in's) and one
	// stand-in: the host books what it was told.
	want := map[string]Sum{KindPurchase: {Count: 3, Amount: 300 + 300 + 700}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("totals %v, want %v", got, want)
	}
	days, err := s.TotalsByDay()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		if !reflect.DeepEqual(d.Net, want) {
			t.Errorf("day net %v, want %v", d.Net, want)
		}
	}
	if rec := mustLedger(t, s)[key(a)]; rec.Requests != 2 || rec.Repeats != 1 || rec.Refused != 0 {
		t.Errorf("advice counters %d/%d/%d, want 2 requests, 1 repeat", rec.Requests, rec.Repeats, rec.Refused)
	}
	if st := s.Stats(); st.Duplicates != 1 {
		t.Errorf("duplicates %d, want 1", st.Duplicates)
	}
}

// TestAuthorizationAdvice: an 0120 is answered 0130 00 and booked as a
// pre-auth advice under its own identity, with its DE38 (or one made
// here), DE90's original and the SI tag as stand-in.
func TestAuthorizationAdvice(t *testing.T) {
	preauth := purchase("000009", 5000)
	preauth.MTI = "0100"
	tests := []struct {
		name string
		edit func(m *wire.Message)
		want LedgerRecord // Key, RRN, Day filled in by the test
	}{
		{"plain", func(m *wire.Message) { m.AuthCode = "R00001" },
			LedgerRecord{Class: "0120", Kind: KindPreAuth, Amount: 5000, RC: "00", AuthCode: "R00001", Advice: true, Requests: 1}},
		{"no DE38", func(m *wire.Message) {},
			LedgerRecord{Class: "0120", Kind: KindPreAuth, Amount: 5000, RC: "00", Advice: true, Requests: 1}},
		{"stand-in naming a pre-auth", func(m *wire.Message) {
			m.AuthCode, m.OriginalData = "S00002", "0100"+preauth.STAN+preauth.TransmissionTime+strings.Repeat("0", 22)
			m.Private.Set(wire.TagStandIn, "1")
		}, LedgerRecord{Class: "0120", Kind: KindPreAuth, Amount: 5000, RC: "00", AuthCode: "S00002", Original: key(preauth),
			StandIn: true, Advice: true, Requests: 1}},
		// An advice reports an approval already given: the card rules
		// do not apply.
		{"card the rules decline", func(m *wire.Message) { m.PAN, m.AuthCode = PANDoNotHonour, "R00003" },
			LedgerRecord{Class: "0120", Kind: KindPreAuth, Amount: 5000, RC: "00", AuthCode: "R00003", Advice: true, Requests: 1}},
	}
	s := mustOpen(t, Config{})
	c := dial(t, s)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := purchase(stan6(600+i), 5000)
			m.MTI = "0120"
			tt.edit(m)
			got := c.roundTrip(m)
			rec := mustLedger(t, s)[key(m)]
			want := tt.want
			want.Key, want.RRN, want.Day = key(m), assignRRN(key(m)), rec.Day
			if want.AuthCode == "" {
				want.AuthCode = authCode(key(m))
			}
			if got.MTI != "0130" || got.ResponseCode != "00" || got.AuthCode != want.AuthCode {
				t.Errorf("answered %s %s %q, want 0130 00 %q", got.MTI, got.ResponseCode, got.AuthCode, want.AuthCode)
			}
			if rec != want {
				t.Errorf("record\n%+v, want\n%+v", rec, want)
			}
		})
	}
	want := map[string]Sum{KindPreAuth: {Count: int64(len(tests)), Amount: 5000 * int64(len(tests))}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
}

// TestLedgerExport: every record, declines and tombstones included, with
// how often each identity was asked.
func TestLedgerExport(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	p, dec := purchase("000001", 1000), purchase("000002", 1051)
	c.roundTrip(p)
	rep := *p
	rep.MTI = "0201"
	c.roundTrip(&rep)
	c.roundTrip(p) // the same original again: answered from the ledger (lenient host)
	c.roundTrip(dec)
	rev := reversalOf(p, "000003")
	c.roundTrip(rev)
	never := purchase("000004", 500)
	revNever := reversalOf(never, "000005")
	c.roundTrip(revNever)

	recs, err := s.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	wantKeys := []string{key(p), key(dec), key(never), key(rev), key(revNever)}
	if strings.Join(keys, " ") != strings.Join(wantKeys, " ") {
		t.Fatalf("keys %v, want %v (key order)", keys, wantKeys)
	}
	l := mustLedger(t, s)
	day := l[key(p)].Day
	want := map[string]LedgerRecord{
		key(p): {Key: key(p), Class: "0200", Kind: KindPurchase, Amount: 1000, RC: "00", AuthCode: authCode(key(p)),
			RRN: assignRRN(key(p)), Day: day, Reversed: true, ReversedDay: day, Requests: 3, Repeats: 1},
		key(dec): {Key: key(dec), Class: "0200", Kind: KindPurchase, Amount: 1051, RC: "51", RRN: assignRRN(key(dec)),
			Day: day, Requests: 1},
		key(rev): {Key: key(rev), Class: "0400", Kind: KindReversal, Amount: 1000, RC: "00", RRN: assignRRN(key(rev)),
			Day: day, Original: key(p), Requests: 1},
		key(never): {Key: key(never), Class: "0200", Day: day, Reversed: true, ReversedDay: day, Tombstone: true},
	}
	for k, w := range want {
		if l[k] != w {
			t.Errorf("%s\n got %+v\nwant %+v", k, l[k], w)
		}
	}
}

func stan6(n int) string {
	s := "000000" + itoa(int64(n))
	return s[len(s)-6:]
}
