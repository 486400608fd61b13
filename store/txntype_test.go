package store

import (
	"testing"

	"github.com/tillgate/tillgate/wire"
)

// TestTypeOf pins the stored type of every financial message: the switch
// node/ had before wire.Classify (an 0120 a pre-auth, every 0220 a
// completion, whatever its DE90 names).
func TestTypeOf(t *testing.T) {
	tests := []struct {
		mti, proc, orig string
		want            TxnType
	}{
		{"0200", "000000", "", TypePurchase},
		{"0201", "200000", "", TypeRefund},
		{"0200", "090000", "", TypeCashback},
		{"0200", "310000", "", TypeBalance},
		{"0200", "010000", "", TypePurchase},
		{"0100", "000000", "", TypePreAuth},
		{"0120", "000000", "", TypePreAuth},
		{"0220", "000000", "0100", TypeCompletion},
		{"0220", "000000", "0200", TypeCompletion},
		{"0400", "200000", "0200", TypeReversal},
		{"0421", "000000", "0200", TypeReversal},
		{"0800", "", "", TypeEcho},
		{"0500", "920000", "", 0},
		{"0320", "000000", "0200", 0},
		{"0210", "000000", "", 0},
	}
	for _, tt := range tests {
		if got := TypeOf(wire.Classify(tt.mti, tt.proc, tt.orig)); got != tt.want {
			t.Errorf("TypeOf(%s %s DE90 %q) = %v, want %v", tt.mti, tt.proc, tt.orig, got, tt.want)
		}
	}
	for typ := TypePurchase; typ <= TypeEcho; typ++ {
		if back := TypeOf(typ.Kind()); back != typ {
			t.Errorf("TypeOf(%v.Kind()) = %v", typ, back)
		}
	}
	names := map[TxnType]string{TypePurchase: "purchase", TypeRefund: "refund", TypeCashback: "cashback", TypeBalance: "balance",
		TypePreAuth: "preauth", TypeCompletion: "completion", TypeReversal: "reversal", TypeEcho: "echo", 0: "type(0)", 42: "type(42)"}
	for typ, name := range names {
		if typ.String() != name {
			t.Errorf("%d.String() = %q, want %q", uint8(typ), typ.String(), name)
		}
	}
}
