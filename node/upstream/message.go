package upstream

import (
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Response codes the node reads in an acquirer's answer beyond those of
// package wire.
const (
	// RCNoOriginal is "unable to locate original" (25): a completion whose
	// DE90 names no known pre-auth, or a reversal the acquirer cannot match
	// (yet).
	RCNoOriginal = "25"
	// RCDuplicate is "duplicate transmission" (94).
	RCDuplicate = "94"
)

// Message is what the acquirer sees of t when it is sent as mti under the
// acquirer identity stan and de7; card data is the caller's.
func Message(t *store.Txn, mti, stan, de7 string) *wire.Message {
	return &wire.Message{
		MTI:              mti,
		ProcCode:         t.ProcCode,
		Amount:           t.Amount,
		HasAmount:        true,
		TransmissionTime: de7,
		STAN:             stan,
		LocalTime:        t.LocalTime,
		LocalDate:        t.LocalDate,
		RRN:              t.RRN,
		TerminalID:       t.TerminalID,
		MerchantID:       t.MerchantID,
		Currency:         t.Currency,
	}
}

// OriginalData is DE90 naming t as the acquirer saw it.
func OriginalData(t *store.Txn) string {
	return wire.OriginalDataFor(t.MTI, t.AcqSTAN, t.AcqTime)
}

// OriginalDataOf is DE90 of a reversal or completion of orig: what the
// acquirer holds of it, its advice for a stand-in (sent under the
// transaction's own identity as an 0220), else the original itself.
func OriginalDataOf(orig *store.Txn) string {
	if orig.StandIn {
		return wire.OriginalDataFor(wire.MTIFinancialAdvice, orig.AcqSTAN, orig.AcqTime)
	}
	return OriginalData(orig)
}

// Acknowledges reports whether an answer to an advice or reversal means the
// acquirer has it. A format error, a system error or "inoperative" does
// not: the acquirer did nothing with it.
func Acknowledges(rc string) bool {
	return rc != wire.RCFormatError && rc != wire.RCSystemError && rc != wire.RCIssuerInoperative
}
