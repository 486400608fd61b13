package store

import (
	"fmt"
	"reflect"
	"testing"
)

// queryFixture: 12 transactions over two terminals and two merchants; every
// third is still pending, the rest approved.
func queryFixture(t *testing.T) *Store {
	t.Helper()
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	for n := 1; n <= 12; n++ {
		x := newTxn(t, v, n, TypePurchase, int64(n))
		if n > 6 {
			x.TerminalID = "TERM0002"
			x.ID = x.TerminalID + x.STAN + x.TransmissionTime
		}
		if n%2 == 0 {
			x.MerchantID = "MERCHANT0000002"
		}
		l.ok(IntentCmd(x))
		if n%3 != 0 {
			l.ok(OutcomeCmd(Outcome{ID: x.ID, Status: StatusApproved, RC: "00", AuthCode: "", StandIn: false, At: 1}))
		}
	}
	return s
}

func ids(txns []*Txn) []string {
	out := make([]string, len(txns))
	for i, t := range txns {
		out[i] = t.STAN[4:] + t.TerminalID[7:]
	}
	return out
}

func ptr(s Status) *Status { return &s }

func TestList(t *testing.T) {
	s := queryFixture(t)
	tests := []struct {
		name string
		q    Query
		want []string // STAN's last two digits + terminal's last digit
	}{
		{"all", Query{}, []string{"011", "021", "031", "041", "051", "061", "072", "082", "092", "102", "112", "122"}},
		{"terminal", Query{Terminal: "TERM0002"}, []string{"072", "082", "092", "102", "112", "122"}},
		{"terminal prefix is not a terminal", Query{Terminal: "TERM"}, nil},
		{"merchant", Query{Merchant: "MERCHANT0000002"}, []string{"021", "041", "061", "082", "102", "122"}},
		{"merchant and day", Query{Merchant: "MERCHANT0000001", Day: testDay}, []string{"011", "031", "051", "072", "092", "112"}},
		{"other day", Query{Day: "20251123"}, nil},
		{"status pending", Query{Status: ptr(StatusPending)}, []string{"031", "061", "092", "122"}},
		{"status and terminal", Query{Status: ptr(StatusApproved), Terminal: testTerminal}, []string{"011", "021", "041", "051"}},
		{"day, merchant, status", Query{Day: testDay, Merchant: "MERCHANT0000002", Status: ptr(StatusPending)}, []string{"061", "122"}},
		{"rrn", Query{RRN: "000100000009"}, []string{"092"}},
		{"rrn filtered out", Query{RRN: "000100000009", Terminal: testTerminal}, nil},
		{"unknown rrn", Query{RRN: "999999999999"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := s.List(tc.q)
			if err != nil || next != "" {
				t.Fatalf("list: next %q, %v", next, err)
			}
			if g := ids(got); !reflect.DeepEqual(g, tc.want) && (len(g) != 0 || len(tc.want) != 0) {
				t.Fatalf("got %v, want %v", g, tc.want)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	s := queryFixture(t)
	for _, q := range []Query{{}, {Merchant: "MERCHANT0000002"}, {Day: testDay}, {Status: ptr(StatusApproved)}, {Terminal: "TERM0002"}} {
		t.Run(fmt.Sprintf("%+v", q), func(t *testing.T) {
			all, _, err := s.List(q)
			if err != nil {
				t.Fatal(err)
			}
			var paged []*Txn
			q.Limit = 3
			for pages := 0; ; pages++ {
				page, next, err := s.List(q)
				if err != nil || pages > 10 {
					t.Fatalf("page %d: %v", pages, err)
				}
				paged = append(paged, page...)
				if next == "" {
					break
				}
				if len(page) != 3 {
					t.Fatalf("short page %d before the end", len(page))
				}
				q.Cursor = next
			}
			if !reflect.DeepEqual(ids(paged), ids(all)) {
				t.Fatalf("pages %v, one list %v", ids(paged), ids(all))
			}
		})
	}
}

func TestListLimitsAndCursors(t *testing.T) {
	s := queryFixture(t)
	if got, next, _ := s.List(Query{Limit: 12}); len(got) != 12 || next != "" {
		t.Fatalf("exact limit: %d, next %q", len(got), next)
	}
	if got, next, _ := s.List(Query{Limit: -5}); len(got) != 12 || next != "" {
		t.Fatalf("negative limit: %d, next %q", len(got), next)
	}
	if _, _, err := s.List(Query{Cursor: "zz"}); err == nil {
		t.Fatal("a non-hex cursor was accepted")
	}
	_, next, _ := s.List(Query{Merchant: "MERCHANT0000002", Limit: 1})
	if _, _, err := s.List(Query{Day: testDay, Cursor: next}); err == nil {
		t.Fatal("a cursor of another query was accepted")
	}
}

func TestGetByRRNPending(t *testing.T) {
	s := queryFixture(t)
	if x, ok, err := s.ByRRN("000100000007"); err != nil || !ok || x.ID != "TERM0002000007"+testDE7 {
		t.Fatalf("by RRN: %+v %v %v", x, ok, err)
	}
	if x, ok, err := s.ByRRN("nope"); err != nil || ok || x != nil {
		t.Fatalf("unknown RRN: %+v %v %v", x, ok, err)
	}
	if x, ok, err := s.Get("nope"); err != nil || ok || x != nil {
		t.Fatalf("unknown id: %+v %v %v", x, ok, err)
	}
	p, err := s.Pending()
	if err != nil || !reflect.DeepEqual(ids(p), []string{"031", "061", "092", "122"}) {
		t.Fatalf("pending %v, %v", ids(p), err)
	}
}
