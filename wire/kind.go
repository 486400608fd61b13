package wire

import (
	"strconv"
	"time"
)

// Kind is what a message means: its MTI (a repeat as its original), its
// processing code (DE3) and, for an 0220, the MTI that its DE90 names.
// Classify is the one place that decides it; every package that needs to
// tell a refund from a purchase or a completion from a stand-in advice
// asks it instead of looking at the digits itself.
//
// Adding a message type: its MTI constants (mti.go), a row in Classify and
// the Kind predicates below, ValidateRequest's checks, then the callers
// that switch on Kind.
type Kind uint8

// Kinds. The financial ones (Financial) are transactions with an identity
// of their own (DE41 + DE11 + DE7).
const (
	KindNone           Kind = iota // not a request or advice tillgate serves: a response, an unknown MTI
	KindPurchase                   // 0200, DE3 00xxxx, or any DE3 not named below
	KindRefund                     // 0200, DE3 20xxxx
	KindCashback                   // 0200, DE3 09xxxx: purchase with cashback
	KindBalance                    // 0200, DE3 31xxxx: balance inquiry, no amount, no money moves
	KindPreAuth                    // 0100: authorization (pre-auth)
	KindPreAuthAdvice              // 0120: a pre-auth the register approved itself, told afterwards
	KindCompletion                 // 0220 whose DE90 names anything but a 0200: the completion of a pre-auth
	KindStandInAdvice              // 0220 whose DE90 names a 0200: a financial request approved in stand-in
	KindReversal                   // 0400
	KindReversalAdvice             // 0420
	KindBatchUpload                // 0320: one transaction of a register's batch upload
	KindReconcile                  // 0500: a register's batch totals
	KindNetwork                    // 0800: sign-on, sign-off, echo
)

var kindNames = [...]string{
	KindNone: "none", KindPurchase: "purchase", KindRefund: "refund", KindCashback: "cashback",
	KindBalance: "balance", KindPreAuth: "preauth", KindPreAuthAdvice: "preauth_advice",
	KindCompletion: "completion", KindStandInAdvice: "standin_advice", KindReversal: "reversal",
	KindReversalAdvice: "reversal_advice", KindBatchUpload: "batch_upload", KindReconcile: "reconcile",
	KindNetwork: "network",
}

// String is the kind's name. The kinds a transaction is booked as (see
// Booked) have the names the whole system uses for them: "purchase",
// "refund", "cashback", "balance", "preauth", "completion", "reversal".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Classify returns the kind of a message with MTI mti, processing code
// proc and, for an 0220, origMTI, the MTI its DE90 names (its first four
// digits; "" when there is none). Repeats are classified as their
// original.
func Classify(mti, proc, origMTI string) Kind {
	switch OriginalMTI(mti) {
	case MTIFinancial:
		return ProcKind(proc)
	case MTIAuth:
		return KindPreAuth
	case MTIAuthAdvice:
		return KindPreAuthAdvice
	case MTIFinancialAdvice:
		if OriginalMTI(origMTI) == MTIFinancial {
			return KindStandInAdvice
		}
		return KindCompletion
	case MTIReversal:
		return KindReversal
	case MTIReversalAdvice:
		return KindReversalAdvice
	case MTIBatchUpload:
		return KindBatchUpload
	case MTIReconcile:
		return KindReconcile
	case MTINetwork:
		return KindNetwork
	}
	return KindNone
}

// Kind classifies m (see Classify).
func (m *Message) Kind() Kind {
	return Classify(m.MTI, m.ProcCode, originalDataMTI(m.OriginalData))
}

// originalDataMTI is the MTI a DE90 names, "" when it is too short.
func originalDataMTI(de90 string) string {
	if len(de90) < 4 {
		return ""
	}
	return de90[:4]
}

// ProcKind is the kind of a financial request (0200) by its processing
// code: DE3 20xxxx a refund, 09xxxx a purchase with cashback, 31xxxx a
// balance inquiry, anything else a purchase.
func ProcKind(proc string) Kind {
	if len(proc) < 2 {
		return KindPurchase
	}
	switch proc[:2] {
	case "20":
		return KindRefund
	case "09":
		return KindCashback
	case "31":
		return KindBalance
	}
	return KindPurchase
}

// Financial reports a transaction with an identity of its own, which goes
// through the authorization path: 0100, 0120, 0200, 0220, 0400, 0420.
// Network messages and batch reconciliation are not transactions.
func (k Kind) Financial() bool { return k >= KindPurchase && k <= KindReversalAdvice }

// Advice reports an advice (0120, 0220, 0420): its sender already acted,
// and the receiver takes it; it is never declined.
func (k Kind) Advice() bool {
	switch k {
	case KindPreAuthAdvice, KindCompletion, KindStandInAdvice, KindReversalAdvice:
		return true
	}
	return false
}

// Reversal reports a reversal or reversal advice (0400, 0420): its effect
// is on the original its DE90 names.
func (k Kind) Reversal() bool { return k == KindReversal || k == KindReversalAdvice }

// Owed reports a message that its sender owes until it is acknowledged: a
// reversal or an advice. An answer 30, 91 or 96 to one says "not taken,
// send it again", never a final decline.
func (k Kind) Owed() bool { return k.Reversal() || k.Advice() }

// Booked is the kind a transaction of kind k, with processing code proc,
// is booked as at the acquirer and in every total: an 0120 as a pre-auth,
// an 0420 as a reversal, a stand-in advice as the financial request it
// approved (ProcKind). Other kinds are themselves.
func (k Kind) Booked(proc string) Kind {
	switch k {
	case KindPreAuthAdvice:
		return KindPreAuth
	case KindReversalAdvice:
		return KindReversal
	case KindStandInAdvice:
		return ProcKind(proc)
	}
	return k
}

// Time layouts (time.Format) of the date and time fields.
const (
	LayoutTransmissionTime = "0102150405" // DE7, MMDDhhmmss, always UTC
	LayoutLocalTime        = "150405"     // DE12, hhmmss
	LayoutLocalDate        = "0102"       // DE13, MMDD
)

// TransmissionTime formats t as DE7 (MMDDhhmmss, UTC).
func TransmissionTime(t time.Time) string { return t.UTC().Format(LayoutTransmissionTime) }

// zeros22 fills DE90's acquiring and forwarding institution codes (11
// digits each), which tillgate leaves zero.
const zeros22 = "0000000000000000000000"

// OriginalDataFor is the DE90 that names a transaction: its MTI (without
// the repeat digit), STAN and DE7, and two zero institution codes.
func OriginalDataFor(mti, stan, transmissionTime string) string {
	return OriginalMTI(mti) + stan + transmissionTime + zeros22
}
