package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// Test cards with a fixed answer (both pass the Luhn check).
const (
	PANDoNotHonour = "4000000000000002" // always 05
	PANExpired     = "4000000000000069" // always 54
	// CVCWrong is the card verification code (DE48 tag CV) that fails the
	// check: any card sent with it is declined RCCVCFailed.
	CVCWrong = "000"
	// RCCVCFailed answers a card whose CVC does not match: N7, "decline
	// for CVV2 failure" in Visa's base I codes.
	RCCVCFailed = "N7"
	// RCAuthenticationRequired answers a card-not-present authorization of
	// a card in the ACS's challenge ranges without a valid authentication
	// value: 1A, "additional customer authentication required" (Visa's
	// strong customer authentication decline).
	RCAuthenticationRequired = "1A"
	// posConditionECommerce is DE25 of an electronic commerce request.
	posConditionECommerce = "59"
)

// Kinds of transactions, as in the shared Totals definition: the names of
// the wire kinds a transaction is booked as (wire.Kind.Booked).
const (
	KindPurchase   = "purchase"
	KindRefund     = "refund"
	KindCashback   = "cashback"
	KindBalance    = "balance"
	KindPreAuth    = "preauth"
	KindCompletion = "completion"
	KindReversal   = "reversal"
)

// netKinds are the kinds that count in Totals.Net.
var netKinds = map[string]bool{
	KindPurchase: true, KindRefund: true, KindCashback: true, KindPreAuth: true, KindCompletion: true,
}

// classOf is the duplicate-detection class of an MTI: a repeat is its
// original, and a reversal advice (0420) is the same reversal as an 0400.
// "" for the MTIs the simulator does not serve.
func classOf(mti string) string {
	switch c := wire.OriginalMTI(mti); c {
	case wire.MTIAuth, wire.MTIAuthAdvice, wire.MTIFinancial, wire.MTIFinancialAdvice, wire.MTIReversal, wire.MTINetwork:
		return c
	case wire.MTIReversalAdvice:
		return wire.MTIReversal
	}
	return ""
}

// kindOf names what a request books as (wire's classification): an 0120 a
// pre-auth, a stand-in advice the financial request it approved.
func kindOf(m *wire.Message) string {
	return m.Kind().Booked(m.ProcCode).String()
}

// decide applies the card rules (see doc.go) to a financial request.
func decide(m *wire.Message, kind string, now time.Time) string {
	pan, track2Expiry := card(m)
	switch {
	case !wire.ValidatePAN(pan):
		return wire.RCInvalidCard
	case pan == PANDoNotHonour:
		return wire.RCDoNotHonour
	case pan == PANExpired || expired(m.Expiry, now) || expired(track2Expiry, now):
		return wire.RCExpired
	case cvcWrong(m):
		return RCCVCFailed
	case kind != KindBalance && m.Amount == 0:
		return wire.RCInvalidAmount
	case m.Amount%100 == 51:
		return wire.RCInsufficientFunds
	}
	return wire.RCApproved
}

// cvcWrong reports a request carrying the CVC that fails the check. A
// request without one (a register's card-present request, a repeat sent
// without the card data) is not checked.
func cvcWrong(m *wire.Message) bool {
	cvc, ok := m.Private.Get(wire.TagCVC)
	return ok && cvc == CVCWrong
}

// card returns the PAN (DE2, else from track 2) and the expiry of track 2.
func card(m *wire.Message) (pan, track2Expiry string) {
	i := strings.IndexAny(m.Track2, "=D")
	if i > 0 && len(m.Track2) >= i+5 {
		track2Expiry = m.Track2[i+1 : i+5]
	}
	if m.PAN != "" {
		return m.PAN, track2Expiry
	}
	if i > 0 {
		return m.Track2[:i], track2Expiry
	}
	return "", ""
}

// expired reports a YYMM before the current month (UTC). An absent or
// unreadable expiry is not a decline here (the wire validation answers 30
// for a malformed DE14).
func expired(yymm string, now time.Time) bool {
	if len(yymm) != 4 {
		return false
	}
	v, err := strconv.Atoi(yymm)
	if err != nil {
		return false
	}
	y, mo := now.UTC().Year()%100, int(now.UTC().Month())
	return v < y*100+mo
}

// authCode is the 6-digit approval code of an identity: deterministic, so
// a test can predict it and a repeat gets the same one even from a
// rebuilt ledger.
func authCode(key string) string {
	return digitsOf("auth:"+key, 6)
}

// assignRRN makes a 12-digit retrieval reference for a request without one.
func assignRRN(key string) string {
	return digitsOf("rrn:"+key, 12)
}

func digitsOf(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	v := binary.BigEndian.Uint64(sum[:8])
	out := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}
