package failover

import (
	"strings"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// settlementFor returns the entry written ahead of orig, what is owed if
// its outcome turns out unknown: for an authorization or a financial
// request that moves money, its 0400 reversal; for a reversal or an advice,
// the message itself (as a repeat: it is written just before its bytes
// leave); nil when there is nothing to undo (network, reconciliation,
// balance inquiry).
func settlementFor(orig *wire.Message, newSTAN func() string, now time.Time) *entry {
	e := &entry{Of: orig.Key(), Created: now.UnixNano()}
	switch k := orig.Kind(); {
	case k.Owed():
		e.Msg = withoutCardData(orig)
		if k == wire.KindPreAuthAdvice {
			// An 0120 names no original: it must name its card, which
			// the queue seals (seal.go). A 0220 goes without: the node
			// takes the card from the original its DE90 names.
			e.Msg.PAN = cardNumber(orig)
		}
		e.Msg.MTI = wire.RepeatMTI(wire.OriginalMTI(orig.MTI))
		e.Sent = true
	case k == wire.KindPreAuth || k == wire.KindPurchase || k == wire.KindRefund || k == wire.KindCashback:
		if wire.ProcKind(orig.ProcCode) == wire.KindBalance {
			return nil // a balance inquiry moves no money
		}
		e.Msg = Reversal(orig, newSTAN(), wire.TransmissionTime(now))
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
		MTI:              wire.MTIReversal,
		ProcCode:         orig.ProcCode,
		Amount:           orig.Amount,
		HasAmount:        true,
		TransmissionTime: transmissionTime,
		STAN:             stan,
		TerminalID:       orig.TerminalID,
		MerchantID:       orig.MerchantID,
		Currency:         orig.Currency,
		OriginalData:     wire.OriginalDataFor(orig.MTI, orig.STAN, orig.TransmissionTime),
	}
}

// withoutCardData copies m without the card data a register must not keep
// on disk (track 2, PIN block, ICC, and the PAN, which reversals and
// completions do not need: the node takes the card from the original
// named by DE90).
func withoutCardData(m *wire.Message) wire.Message {
	c := *m
	c.PAN, c.Track2, c.PINBlock, c.ICC, c.Expiry = "", "", nil, nil, ""
	return c
}

// mustDeliver reports a reversal or advice: a message the register owes
// the cluster until a node acknowledges it, whoever sends it.
func mustDeliver(mti string) bool { return wire.Classify(mti, "", "").Owed() }

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

// cardNumber is m's card number: DE2, or the PAN of its track 2 (before
// the separator, '=' or 'D').
func cardNumber(m *wire.Message) string {
	if m.PAN != "" {
		return m.PAN
	}
	if i := strings.IndexAny(m.Track2, "=D"); i > 0 {
		return m.Track2[:i]
	}
	return ""
}
