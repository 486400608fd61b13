package payments

import (
	"time"

	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// The ISO 8583 form of a card-not-present payment, as a register on the
// merchant's virtual terminal would send it:
//
//	DE41  the merchant's virtual terminal ("W" + 7 digits, from the log)
//	DE42  the merchant's number ("CNP" + 12 digits, from the log)
//	DE11, DE7  the step's STAN and transmission time, recorded with the
//	      payment before the request goes out: a retry is the same identity
//	DE12, DE13  the step's time (UTC)
//	DE22  posEntryMode "810": PAN keyed in for electronic commerce (81), no
//	      PIN entry capability (0)
//	DE25  posCondition "59": electronic commerce
//	DE14  the card's expiry (YYMM); DE48 tag CV the CVC (authorizations only)
//	DE48 tags AV, EC  an authorization's proof that the cardholder passed
//	      the issuer's challenge (the ACS's value and ECI, from the record)
//	DE90  a capture's and a void's original: the authorization (0100)
const (
	posEntryMode = "810"
	posCondition = "59"
	procPurchase = "000000"
	procRefund   = "200000"
)

// stepMessage is the request for step s of p. card is the card number;
// expiry and cvc are the request's (empty for a step after the
// authorization, which carries the card only: a register's completion does
// not send the CVC either). repeat marks a retry: the request goes as a
// repeat (xxx1), which the pipeline checks against what it recorded.
func stepMessage(p *store.Payment, s *store.PaymentStep, pan, expiry, cvc string, repeat bool) *wire.Message {
	at := time.Unix(0, s.At).UTC()
	m := &wire.Message{
		PAN:              pan,
		ProcCode:         procPurchase,
		Amount:           s.Amount,
		HasAmount:        true,
		TransmissionTime: s.DE7,
		STAN:             s.STAN,
		LocalTime:        at.Format("150405"),
		LocalDate:        at.Format("0102"),
		Expiry:           expiry,
		POSEntryMode:     posEntryMode,
		POSCondition:     posCondition,
		TerminalID:       p.Terminal,
		MerchantID:       p.MID,
		Currency:         p.Currency,
	}
	if cvc != "" {
		m.Private.Set(wire.TagCVC, cvc)
	}
	auth := p.Steps[0]
	switch s.Kind {
	case store.StepAuth:
		if p.Auth.Status == store.AuthAuthenticated && p.Auth.Value != "" {
			m.Private.Set(wire.TagAuthValue, p.Auth.Value)
			m.Private.Set(wire.TagECI, p.Auth.ECI)
		}
		m.MTI = wire.MTIFinancial
		if p.Manual {
			m.MTI = wire.MTIAuth
		}
	case store.StepCapture:
		m.MTI = wire.MTIFinancialAdvice
		m.OriginalData = wire.OriginalDataFor(wire.MTIAuth, auth.STAN, auth.DE7)
	case store.StepVoid:
		m.MTI = wire.MTIReversal
		m.OriginalData = wire.OriginalDataFor(wire.MTIAuth, auth.STAN, auth.DE7)
	case store.StepRefund:
		m.MTI, m.ProcCode = wire.MTIFinancial, procRefund
	}
	if repeat {
		m.MTI = wire.RepeatMTI(m.MTI)
	}
	return m
}
