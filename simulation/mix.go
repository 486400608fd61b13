package simulation

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// Kind is what a register sends in one step.
type Kind string

// Kinds of steps.
const (
	KindPurchase   Kind = "purchase"   // 0200 DE3 000000
	KindRefund     Kind = "refund"     // 0200 DE3 200000
	KindCashback   Kind = "cashback"   // 0200 DE3 090000
	KindBalance    Kind = "balance"    // 0200 DE3 310000, no amount
	KindPreAuth    Kind = "preauth"    // 0100
	KindCompletion Kind = "completion" // 0220, DE90 naming an approved pre-auth of the register
	KindAdvice     Kind = "advice"     // 0120: a pre-auth the register approved offline (DE38 its own)
	KindReversal   Kind = "reversal"   // 0400 naming an approved purchase of the register
	// KindVoidUnknown is a 0400 naming a purchase the cluster may not know:
	// one whose outcome the register never learnt or, with none, one not
	// sent yet, which then follows as the register's next step (a
	// reversal before its original).
	KindVoidUnknown Kind = "void_unknown"
	KindEcho        Kind = "echo" // 0800 DE70 301
)

// Mix weighs the kinds and sets how often an identity is sent again.
type Mix struct {
	Kinds []weighted[Kind]
	// RepeatAnswered percent of answered steps send the same identity
	// again as xx01.
	RepeatAnswered int
	// RepeatTimedOut percent of steps bound their first attempt by a
	// short deadline and, when that leaves the outcome unknown, send the
	// identity again as xx01 at once (while the cluster may still be on
	// the first, and the client's reversal of it is queued).
	RepeatTimedOut int
}

// DefaultMix is a retail day with more of the rare paths than a real one.
func DefaultMix() Mix {
	return Mix{
		Kinds: []weighted[Kind]{
			{KindPurchase, 40}, {KindRefund, 6}, {KindCashback, 6}, {KindBalance, 4},
			{KindPreAuth, 8}, {KindCompletion, 7}, {KindAdvice, 4}, {KindReversal, 6},
			{KindVoidUnknown, 3}, {KindEcho, 4},
		},
		RepeatAnswered: 8,
		RepeatTimedOut: 4,
	}
}

// keepOriginals bounds what a register remembers to complete or reverse.
const keepOriginals = 8

// Cards: two that the acquirer simulator approves, one it declines (05).
var (
	goodCards  = []string{"4111111111111111", "5500000000000004"}
	declinedPA = "4000000000000002"
)

// The merchant (DE42) and currency (DE49) of every simulated register.
const (
	merchantID = "M00000000000009"
	currency   = "978"
)

// step is one thing a register does: a request and how to send it.
type step struct {
	Kind Kind
	Req  *wire.Message
	// FirstDeadline > 0 bounds the first attempt; an unknown outcome then
	// sends the identity again as xx01.
	FirstDeadline time.Duration
	// RepeatAfter sends the identity again as xx01 after its answer.
	RepeatAfter bool
}

// original is what a completion or reversal names.
type original struct {
	mti, stan, de7, pan, proc string
	amount                    int64
}

func (o original) de90() string { return wire.OriginalDataFor(o.mti, o.stan, o.de7) }

// builder makes one register's requests. It is not safe for concurrent
// use: only its register's goroutine calls it. Given the same seed, clock
// and answers it makes the same requests.
type builder struct {
	tid  string
	mix  Mix
	rnd  *rand.Rand
	stan func() string
	// Approved and not completed (pre-auths, oldest first) or reversed
	// (purchases, newest last); purchases whose outcome was unknown.
	preauths, purchases, unknowns []original
	// late is a purchase whose reversal went first: the next step.
	late *wire.Message
}

func newBuilder(tid string, mix Mix, rnd *rand.Rand, stan func() string) *builder {
	return &builder{tid: tid, mix: mix, rnd: rnd, stan: stan}
}

// next draws the register's next step at time now.
func (b *builder) next(now time.Time) step {
	if b.late != nil {
		s := step{Kind: KindPurchase, Req: b.late}
		b.late = nil
		return s
	}
	s := b.build(pick(b.rnd, b.mix.Kinds), now.UTC())
	if s.Kind == KindEcho {
		return s
	}
	switch n := b.rnd.IntN(100); {
	case n < b.mix.RepeatTimedOut:
		s.FirstDeadline = between(b.rnd, 20*time.Millisecond, 800*time.Millisecond)
	case n < b.mix.RepeatTimedOut+b.mix.RepeatAnswered:
		s.RepeatAfter = true
	}
	return s
}

// build makes a request of kind, or of its stand-in when there is nothing
// to complete or reverse (a pre-auth, a purchase).
func (b *builder) build(kind Kind, now time.Time) step {
	m := b.base(wire.MTIFinancial, now)
	switch {
	case kind == KindEcho:
		m.MTI, m.NetworkCode = wire.MTINetwork, wire.NetEcho
		m.ProcCode, m.LocalTime, m.LocalDate, m.MerchantID, m.Currency = "", "", "", "", ""
		return step{Kind: kind, Req: m}
	case kind == KindCompletion && len(b.preauths) > 0:
		return step{Kind: kind, Req: b.completion(m)}
	case kind == KindReversal && len(b.purchases) > 0:
		o := b.purchases[len(b.purchases)-1]
		b.purchases = b.purchases[:len(b.purchases)-1]
		return step{Kind: kind, Req: reversalOf(m, o)}
	case kind == KindVoidUnknown:
		return step{Kind: kind, Req: b.voidUnknown(m, now)}
	case kind == KindAdvice:
		m.MTI, m.ProcCode = wire.MTIAuthAdvice, "000000"
		m.AuthCode = fmt.Sprintf("R%05d", b.rnd.IntN(100000))
	case kind == KindPreAuth || kind == KindCompletion:
		m.MTI, kind = wire.MTIAuth, KindPreAuth
	case kind == KindRefund:
		m.ProcCode = "200000"
	case kind == KindCashback:
		m.ProcCode = "090000"
	case kind == KindBalance:
		m.ProcCode = "310000"
		b.card(m)
		m.Amount, m.HasAmount = 0, false
		return step{Kind: kind, Req: m}
	default:
		kind = KindPurchase
	}
	b.card(m)
	return step{Kind: kind, Req: m}
}

// base is a request of the register with a fresh identity.
func (b *builder) base(mti string, now time.Time) *wire.Message {
	return &wire.Message{
		MTI: mti, ProcCode: "000000", TransmissionTime: now.Format(wire.LayoutTransmissionTime), STAN: b.stan(),
		LocalTime: now.Format(wire.LayoutLocalTime), LocalDate: now.Format(wire.LayoutLocalDate), TerminalID: b.tid,
		MerchantID: merchantID, Currency: currency,
	}
}

// card sets a card and an amount: mostly approved cards, a few declined
// ones; amounts ending in 51 are declined 51 by the acquirer simulator.
func (b *builder) card(m *wire.Message) {
	m.PAN = goodCards[b.rnd.IntN(len(goodCards))]
	if b.rnd.IntN(100) < 3 {
		m.PAN = declinedPA
	}
	m.Expiry, m.POSEntryMode, m.POSCondition = "3012", "051", "00"
	m.Amount, m.HasAmount = 100+b.rnd.Int64N(20000), true
}

// completion completes the oldest approved pre-auth, for at most its amount.
func (b *builder) completion(m *wire.Message) *wire.Message {
	o := b.preauths[0]
	b.preauths = b.preauths[1:]
	m.MTI, m.OriginalData = wire.MTIFinancialAdvice, o.de90()
	m.PAN, m.Expiry, m.POSEntryMode, m.POSCondition = o.pan, "3012", "051", "00"
	m.Amount, m.HasAmount = o.amount-b.rnd.Int64N(o.amount/4+1), true
	return m
}

// reversalOf makes m the 0400 of o: same DE3 and amount, DE90 naming it.
func reversalOf(m *wire.Message, o original) *wire.Message {
	m.MTI, m.ProcCode, m.OriginalData = wire.MTIReversal, o.proc, o.de90()
	m.Amount, m.HasAmount = o.amount, true
	return m
}

// voidUnknown reverses a purchase of unknown outcome or, with none, one
// that is built now but sent only after its reversal.
func (b *builder) voidUnknown(m *wire.Message, now time.Time) *wire.Message {
	if n := len(b.unknowns); n > 0 {
		o := b.unknowns[n-1]
		b.unknowns = b.unknowns[:n-1]
		return reversalOf(m, o)
	}
	late := b.base(wire.MTIFinancial, now)
	b.card(late)
	b.late = late
	return reversalOf(m, originalOf(late))
}

func originalOf(m *wire.Message) original {
	return original{mti: wire.OriginalMTI(m.MTI), stan: m.STAN, de7: m.TransmissionTime, pan: m.PAN, proc: m.ProcCode, amount: m.Amount}
}

// learn remembers what a later step may complete or reverse: an approved
// pre-auth, an approved or unknown purchase (with or without cashback).
func (b *builder) learn(s step, rc string, unknown bool) {
	o := originalOf(s.Req)
	debit := o.mti == wire.MTIFinancial && wire.BucketOf(wire.ProcKind(o.proc), o.proc) == wire.BucketDebit
	switch {
	case unknown && debit:
		b.unknowns = appendBounded(b.unknowns, o)
	case rc != wire.RCApproved:
	case o.mti == wire.MTIAuth:
		b.preauths = appendBounded(b.preauths, o)
	case debit:
		b.purchases = appendBounded(b.purchases, o)
	}
}

func appendBounded(s []original, o original) []original {
	if len(s) >= keepOriginals {
		s = append(s[:0], s[1:]...)
	}
	return append(s, o)
}

// repeatOf is m sent again: the same identity with the repeat MTI.
func repeatOf(m *wire.Message) *wire.Message {
	r := *m
	r.MTI = wire.RepeatMTI(m.MTI)
	return &r
}
