package sim

import (
	"time"

	"github.com/tillgate/tillgate/wire"
)

// rcUnknownOriginal answers a reversal or completion whose original the
// host does not know (ISO 8583: unable to locate record on file).
const rcUnknownOriginal = "25"

// financial books a request in the ledger (a known identity gets its
// recorded answer and changes nothing) and answers it.
func (s *Sim) financial(m *wire.Message, class string) *wire.Message {
	e := s.entryOf(m, class, s.now().UTC())
	rec, what, err := s.ledger.book(e)
	if err != nil {
		s.log.Error("ledger", "key", m.Key(), "err", err)
		return reply(m, wire.RCSystemError, "", m.RRN)
	}
	return s.answer(m, e, rec, what)
}

// entryOf is what booking m means: the record of a new identity, and for
// a reversal or completion the original a strict host must know.
func (s *Sim) entryOf(m *wire.Message, class string, now time.Time) entry {
	e := entry{key: class + m.Key(), repeat: wire.IsRepeat(m.MTI)}
	e.rec = record{Class: class, Kind: kindOf(m), Amount: m.Amount, Day: now.Format("20060102"),
		RRN: m.RRN, At: now.UnixNano()}
	if e.rec.RRN == "" {
		e.rec.RRN = assignRRN(e.key)
	}
	if s.cfg.Strict {
		e.strict = &strictRules{window: s.strict.DupWindow, now: now.UnixNano(), day: e.rec.Day}
	}
	switch {
	case m.Kind() == wire.KindStandInAdvice:
		advice(m, &e.rec, true)
	case class == wire.MTIAuthAdvice:
		_, si := m.Private.Get(wire.TagStandIn)
		advice(m, &e.rec, si)
	case e.rec.Kind == KindReversal:
		e.orig = originalKey(m)
		e.rec.Original, e.rec.RC = e.orig, wire.RCApproved
	case e.rec.Kind == KindCompletion:
		// The card was judged at the pre-auth, whose approval reserved
		// the money: a completion is an advice the host takes (a strict
		// host still refuses one naming a pre-auth it does not know).
		e.orig = originalKey(m)
		e.rec.Original, e.rec.RC, e.rec.AuthCode = e.orig, wire.RCApproved, authCode(e.key)
	default:
		if e.rec.RC = decide(m, e.rec.Kind, now); e.rec.RC == wire.RCApproved && !s.authenticated(m, e) {
			e.rec.RC = RCAuthenticationRequired
		}
		if e.rec.RC == wire.RCApproved {
			e.rec.AuthCode = authCode(e.key)
		}
	}
	return e
}

// authenticated reports whether m, if a card-not-present authorization
// (e-commerce, DE25 59) of a card the ACS challenges, carries an
// authentication value the ACS issued for it. Refunds need none, and
// without an ACS nothing is checked.
func (s *Sim) authenticated(m *wire.Message, e entry) bool {
	if s.cfg.ACS == nil || m.POSCondition != posConditionECommerce || (e.rec.Kind != KindPurchase && e.rec.Kind != KindPreAuth) {
		return true
	}
	pan, _ := card(m)
	if !s.cfg.ACS.RequiresAuthentication(pan) {
		return true
	}
	av, _ := m.Private.Get(wire.TagAuthValue)
	eci, _ := m.Private.Get(wire.TagECI)
	if err := s.cfg.ACS.Verify(pan, m.Amount, av, eci, e.key); err != nil {
		s.st.unauthenticated.Add(1)
		s.log.Info("declined: cardholder not authenticated", "key", m.Key(), "card", wire.MaskPAN(pan), "why", err.Error())
		return false
	}
	return true
}

// advice fills the record of an advice: an approval the client already
// gave (its DE38, or one made here if it sent none), which the host takes
// as it is, under the advice's own identity; the original it names, if
// any, is left alone.
func advice(m *wire.Message, rec *record, standIn bool) {
	rec.RC, rec.AuthCode, rec.Advice, rec.StandIn = wire.RCApproved, m.AuthCode, true, standIn
	if rec.AuthCode == "" {
		rec.AuthCode = authCode(rec.Class + m.Key())
	}
	if m.OriginalData != "" {
		rec.Original = originalKey(m)
	}
}

// answer turns what booking did into the answer, and counts it.
func (s *Sim) answer(m *wire.Message, e entry, rec record, what outcome) *wire.Message {
	switch what {
	case refusedDup, refusedReuse:
		s.st.refused.Add(1)
		why := "duplicate transmission"
		if what == refusedReuse {
			s.st.stanReuse.Add(1)
			why = "STAN reused the same day with another DE7"
		}
		s.log.Warn("refused 94", "mti", m.MTI, "key", m.Key(), "why", why)
		return reply(m, wire.RCDuplicate, "", m.RRN)
	case unknownOriginal:
		s.st.unknownOriginal.Add(1)
		s.log.Warn("original unknown, answered 25 and forgotten", "mti", m.MTI, "key", m.Key(), "original", e.orig)
		return reply(m, rcUnknownOriginal, "", m.RRN)
	case answeredAgain:
		s.st.duplicates.Add(1)
		s.log.Info("duplicate answered from the ledger", "mti", m.MTI, "key", m.Key(), "rc", rec.RC)
	}
	s.log.Debug("answered", "mti", m.MTI, "key", m.Key(), "kind", rec.Kind, "rc", rec.RC)
	return reply(m, rec.RC, rec.AuthCode, rec.RRN)
}

// originalKey is the ledger key of the transaction DE90 names: the class
// of its MTI + this terminal + its STAN + its DE7 (validated: 42 digits).
func originalKey(m *wire.Message) string {
	od := m.OriginalData
	class := classOf(od[:4])
	if class == "" {
		class = od[:4]
	}
	return class + m.TerminalID + od[4:10] + od[10:20]
}

// reply is the answer to m: its identity and amount fields echoed, never
// card data (DE2, DE35, DE52, DE55).
func reply(m *wire.Message, rc, auth, rrn string) *wire.Message {
	r := &wire.Message{
		MTI:              wire.ResponseMTI(m.MTI),
		ProcCode:         m.ProcCode,
		Amount:           m.Amount,
		HasAmount:        m.HasAmount,
		TransmissionTime: m.TransmissionTime,
		STAN:             m.STAN,
		RRN:              rrn,
		AuthCode:         auth,
		ResponseCode:     rc,
		TerminalID:       m.TerminalID,
		MerchantID:       m.MerchantID,
		Currency:         m.Currency,
		OriginalData:     m.OriginalData,
	}
	if m.Kind() == wire.KindNetwork {
		r.NetworkCode = m.NetworkCode
	}
	return r
}
