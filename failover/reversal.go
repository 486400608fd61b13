package failover

import (
	"strings"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// zeros11 fills DE90's acquiring and forwarding institution codes.
const zeros11 = "00000000000"

// settlementFor returns the entry written ahead of orig, what is owed if
// its outcome turns out unknown: for an authorization or purchase, its 0400
// reversal; for a reversal or an advice, the message itself (as a repeat:
// it is written just before its bytes leave); nil when there is nothing to
// undo (network, reconciliation, balance inquiry).
func settlementFor(orig *wire.Message, newSTAN func() string, now time.Time) *entry {
	e := &entry{Of: orig.Key(), Created: now.UnixNano()}
	switch wire.OriginalMTI(orig.MTI) {
	case "0100", "0200":
		if strings.HasPrefix(orig.ProcCode, "31") {
			return nil
		}
		e.Msg = Reversal(orig, newSTAN(), de7(now))
	case "0120", "0220", "0400", "0420":
		e.Msg = withoutCardData(orig)
		if o := wire.OriginalMTI(orig.MTI); o == "0120" || o == "0220" {
			e.Msg.PAN = orig.PAN // an advice must name its card (DE2)
		}
		e.Msg.MTI = wire.OriginalMTI(orig.MTI)[:3] + "1"
		e.Sent = true
	default:
		return nil
	}
	return e
}

// Reversal builds the 0400 that undoes orig: same terminal, merchant,
// processing code, amount and currency; its own STAN and DE7; DE90 = the
// original MTI, STAN and DE7 followed by 22 zeros (reason: timeout).
func Reversal(orig *wire.Message, stan, transmissionTime string) wire.Message {
	return wire.Message{
		MTI:              "0400",
		ProcCode:         orig.ProcCode,
		Amount:           orig.Amount,
		HasAmount:        true,
		TransmissionTime: transmissionTime,
		STAN:             stan,
		TerminalID:       orig.TerminalID,
		MerchantID:       orig.MerchantID,
		Currency:         orig.Currency,
		OriginalData:     wire.OriginalMTI(orig.MTI) + orig.STAN + orig.TransmissionTime + zeros11 + zeros11,
	}
}

// withoutCardData copies m without the card data a register must not keep
// on disk (track 2, PIN block, ICC, and the PAN, which reversals do not
// need: the node takes the card from the original named by DE90).
func withoutCardData(m *wire.Message) wire.Message {
	c := *m
	c.PAN, c.Track2, c.PINBlock, c.ICC, c.Expiry = "", "", nil, nil, ""
	return c
}

// mustDeliver reports a reversal or advice: a message the register owes
// the cluster until a node acknowledges it, whoever sends it.
func mustDeliver(mti string) bool {
	switch wire.OriginalMTI(mti) {
	case "0120", "0220", "0400", "0420":
		return true
	}
	return false
}

// acknowledges reports whether resp, the answer to a reversal or advice,
// settles it. 30, 91 and 96 do not: the node could not take it (format,
// acquirer or issuer unavailable, malfunction), and the node's own SAF
// sender retries on the same codes. Neither does "not processed".
func acknowledges(resp *wire.Message) bool {
	switch resp.ResponseCode {
	case wire.RCFormatError, wire.RCIssuerInoperative, wire.RCSystemError:
		return false
	}
	return !notProcessed(resp)
}
