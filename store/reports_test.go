package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func amt(n int64) *int64 { return &n }

func TestListFilters(t *testing.T) {
	s := queryFixture(t)
	at := func(n int) time.Time { return time.Unix(0, testEpoch+int64(n)) }
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"rc", Query{RC: "00", Terminal: "TERM0002"}, []string{"072", "082", "102", "112"}},
		{"amount range", Query{MinAmount: amt(5), MaxAmount: amt(8)}, []string{"051", "061", "072", "082"}},
		{"min amount and status", Query{MinAmount: amt(10), Status: ptr(StatusApproved)}, []string{"102", "112"}},
		{"from", Query{From: at(10)}, []string{"102", "112", "122"}},
		{"to is exclusive", Query{To: at(3)}, []string{"011", "021"}},
		{"bin prefix", Query{BIN: "4111", Merchant: "MERCHANT0000002", Day: testDay}, []string{"021", "041", "061", "082", "102", "122"}},
		{"other bin", Query{BIN: "5"}, nil},
		{"last4", Query{Last4: "1111", RRN: "000100000004"}, []string{"041"}},
		{"other last4", Query{Last4: "0000"}, nil},
		{"acquirer", Query{Acquirer: "acq1", MaxAmount: amt(2)}, []string{"011", "021"}},
		{"other acquirer", Query{Acquirer: "acq2"}, nil},
		{"auth code", Query{AuthCode: "X"}, nil},
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

func TestListFilteredPages(t *testing.T) {
	s := queryFixture(t)
	q := Query{MinAmount: amt(4), RC: "00", Limit: 2}
	var got []string
	for pages := 0; ; pages++ {
		page, next, err := s.List(q)
		if err != nil || pages > 5 {
			t.Fatalf("page %d: %v", pages, err)
		}
		got = append(got, ids(page)...)
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if want := []string{"041", "051", "072", "082", "102", "112"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	if _, _, err := s.List(Query{Cursor: "zz"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v, want ErrBadCursor", err)
	}
}

// reportFixture is queryFixture plus a decline of 100 on TERM0001 (STAN 13)
// and the reversal (STAN 14) of STAN 1.
func reportFixture(t *testing.T) *Store {
	s := queryFixture(t)
	v := mustVault(t)
	l := newLog(t, s)
	l.txn(newTxn(t, v, 13, TypePurchase, 100), StatusDeclined)
	l.txn(linkedTxn(t, v, 14, TypeReversal, 1, 1), StatusApproved)
	return s
}

func TestReport(t *testing.T) {
	s := reportFixture(t)
	sum := func(c, a int64) Sum { return Sum{Count: c, Amount: a} }
	tests := []struct {
		q    ReportQuery
		want []ReportRow
	}{
		{ReportQuery{By: ByTerminal}, []ReportRow{
			{Key: "TERM0001", Total: sum(7, 121), Approved: sum(3, 11), Declined: sum(1, 100), Reversed: sum(1, 1)},
			{Key: "TERM0002", Total: sum(6, 57), Approved: sum(4, 36)},
		}},
		{ReportQuery{By: ByMerchant}, []ReportRow{
			{Key: "MERCHANT0000001", Total: sum(7, 1+3+5+7+9+11+100), Approved: sum(3, 5+7+11), Declined: sum(1, 100), Reversed: sum(1, 1)},
			{Key: "MERCHANT0000002", Total: sum(6, 2+4+6+8+10+12), Approved: sum(4, 2+4+8+10)},
		}},
		{ReportQuery{By: ByRC}, []ReportRow{
			{Key: "-", Total: sum(4, 3+6+9+12)},
			{Key: "00", Total: sum(8, 48), Approved: sum(7, 47), Reversed: sum(1, 1)},
			{Key: "05", Total: sum(1, 100), Declined: sum(1, 100)},
		}},
		{ReportQuery{By: ByDay, Day: testDay}, []ReportRow{
			{Key: testDay, Total: sum(13, 178), Approved: sum(7, 47), Declined: sum(1, 100), Reversed: sum(1, 1)},
		}},
		{ReportQuery{By: ByHour}, []ReportRow{
			{Key: "2025-11-22T12", Total: sum(13, 178), Approved: sum(7, 47), Declined: sum(1, 100), Reversed: sum(1, 1)},
		}},
		{ReportQuery{By: ByAcquirer, Type: "purchase"}, []ReportRow{
			{Key: "acq1", Total: sum(13, 178), Approved: sum(7, 47), Declined: sum(1, 100), Reversed: sum(1, 1)},
		}},
		{ReportQuery{By: ByDay, Day: "20251123"}, []ReportRow{}},
		{ReportQuery{By: ByDay, Type: "refund"}, []ReportRow{}},
	}
	for _, tc := range tests {
		got, err := s.Report(tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v:\n got %+v\nwant %+v", tc.q, got, tc.want)
		}
	}
	if _, err := s.Report(ReportQuery{By: "week"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("by week: %v, want ErrInvalid", err)
	}
}
