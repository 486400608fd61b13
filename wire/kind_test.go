package wire

import (
	"encoding/json"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		mti, proc, orig string
		want            Kind
		booked          Kind
	}{
		{"0200", "000000", "", KindPurchase, KindPurchase},
		{"0201", "000000", "", KindPurchase, KindPurchase},
		{"0200", "200000", "", KindRefund, KindRefund},
		{"0200", "090000", "", KindCashback, KindCashback},
		{"0200", "310000", "", KindBalance, KindBalance},
		{"0200", "010000", "", KindPurchase, KindPurchase}, // a DE3 not named: a purchase
		{"0200", "", "", KindPurchase, KindPurchase},
		{"0100", "000000", "", KindPreAuth, KindPreAuth},
		{"0101", "000000", "", KindPreAuth, KindPreAuth},
		{"0120", "000000", "", KindPreAuthAdvice, KindPreAuth},
		{"0220", "000000", "0100", KindCompletion, KindCompletion},
		{"0221", "000000", "0101", KindCompletion, KindCompletion},
		{"0220", "000000", "", KindCompletion, KindCompletion},
		{"0220", "000000", "0200", KindStandInAdvice, KindPurchase},
		{"0220", "200000", "0201", KindStandInAdvice, KindRefund},
		{"0400", "200000", "0200", KindReversal, KindReversal},
		{"0401", "000000", "0200", KindReversal, KindReversal},
		{"0420", "000000", "0200", KindReversalAdvice, KindReversal},
		{"0320", "000000", "0200", KindBatchUpload, KindBatchUpload},
		{"0500", "920000", "", KindReconcile, KindReconcile},
		{"0800", "", "", KindNetwork, KindNetwork},
		{"0210", "000000", "", KindNone, KindNone},
		{"0810", "", "", KindNone, KindNone},
		{"9999", "", "", KindNone, KindNone},
		{"", "", "", KindNone, KindNone},
	}
	for _, tt := range tests {
		got := Classify(tt.mti, tt.proc, tt.orig)
		if got != tt.want {
			t.Errorf("Classify(%q, %q, %q) = %v, want %v", tt.mti, tt.proc, tt.orig, got, tt.want)
		}
		if b := got.Booked(tt.proc); b != tt.booked {
			t.Errorf("%v.Booked(%q) = %v, want %v", got, tt.proc, b, tt.booked)
		}
		m := &Message{MTI: tt.mti, ProcCode: tt.proc}
		if tt.orig != "" {
			m.OriginalData = OriginalDataFor(tt.orig, "000001", "0612230000")
		}
		if k := m.Kind(); k != tt.want {
			t.Errorf("Message{%s %s DE90 %q}.Kind() = %v, want %v", tt.mti, tt.proc, m.OriginalData, k, tt.want)
		}
	}
}

func TestKindPredicates(t *testing.T) {
	tests := []struct {
		k                                 Kind
		name                              string
		financial, advice, reversal, owed bool
	}{
		{KindNone, "none", false, false, false, false},
		{KindPurchase, "purchase", true, false, false, false},
		{KindRefund, "refund", true, false, false, false},
		{KindCashback, "cashback", true, false, false, false},
		{KindBalance, "balance", true, false, false, false},
		{KindPreAuth, "preauth", true, false, false, false},
		{KindPreAuthAdvice, "preauth_advice", true, true, false, true},
		{KindCompletion, "completion", true, true, false, true},
		{KindStandInAdvice, "standin_advice", true, true, false, true},
		{KindReversal, "reversal", true, false, true, true},
		{KindReversalAdvice, "reversal_advice", true, true, true, true},
		{KindBatchUpload, "batch_upload", false, false, false, false},
		{KindReconcile, "reconcile", false, false, false, false},
		{KindNetwork, "network", false, false, false, false},
		{Kind(200), "kind(200)", false, false, false, false},
	}
	for _, tt := range tests {
		if tt.k.String() != tt.name || tt.k.Financial() != tt.financial || tt.k.Advice() != tt.advice ||
			tt.k.Reversal() != tt.reversal || tt.k.Owed() != tt.owed {
			t.Errorf("%d: %s financial %v advice %v reversal %v owed %v, want %+v", uint8(tt.k), tt.k,
				tt.k.Financial(), tt.k.Advice(), tt.k.Reversal(), tt.k.Owed(), tt)
		}
	}
}

func TestTotalsCount(t *testing.T) {
	var got Totals
	for _, tx := range []struct {
		mti, proc, orig string
		amount          int64
	}{
		{"0200", "000000", "", 1000},
		{"0200", "090000", "", 500},
		{"0220", "000000", "0100", 250},  // completion
		{"0200", "200000", "", 300},      // refund
		{"0400", "000000", "0200", 1000}, // reversal of a purchase
		{"0420", "200000", "0200", 300},  // reversal of a refund
		{"0200", "310000", "", 0},        // balance: nowhere
		{"0100", "000000", "", 700},      // pre-auth: nowhere
		{"0120", "000000", "", 700},      // its advice: nowhere
		{"0800", "", "", 0},
	} {
		got.Count(BucketOf(Classify(tx.mti, tx.proc, tx.orig), tx.proc), 1, tx.amount)
	}
	want := Totals{
		DebitsCount: 3, DebitsAmount: 1750, CreditsCount: 1, CreditsAmount: 300,
		DebitsReversalCount: 1, DebitsReversalAmount: 1000, CreditsReversalCount: 1, CreditsReversalAmount: 300,
		NetAmount: 1450,
	}
	if got != want {
		t.Fatalf("Count:\ngot  %+v\nwant %+v", got, want)
	}
	got.Count(BucketDebit, -1, 1000) // taken out again
	want.DebitsCount, want.DebitsAmount, want.NetAmount = 2, 750, 450
	if got != want {
		t.Fatalf("Count -1:\ngot  %+v\nwant %+v", got, want)
	}
	sum := want
	sum.Add(want)
	sum.Sub(want)
	if sum != want {
		t.Fatalf("Add then Sub: %+v, want %+v", sum, want)
	}
}

// TestTotalsJSON: the JSON names are the admin API's and the settlement
// report's (recorded reports must keep their bytes).
func TestTotalsJSON(t *testing.T) {
	b, err := json.Marshal(Totals{CreditsCount: 1, CreditsReversalCount: 2, DebitsCount: 3, DebitsReversalCount: 4,
		CreditsAmount: 5, CreditsReversalAmount: 6, DebitsAmount: 7, DebitsReversalAmount: 8, NetAmount: 9})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"credits_count":1,"credits_reversal_count":2,"debits_count":3,"debits_reversal_count":4,` +
		`"credits_amount":5,"credits_reversal_amount":6,"debits_amount":7,"debits_reversal_amount":8,"net_amount":9}`
	if string(b) != want {
		t.Fatalf("JSON\ngot  %s\nwant %s", b, want)
	}
}
