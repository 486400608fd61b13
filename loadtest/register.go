package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/wire"
)

// keepOriginals bounds what a register remembers to complete or reverse.
const keepOriginals = 8

// The merchant (DE42) and currency (DE49) of every simulated register.
const (
	merchantID = "M00000000000001"
	currency   = "978"
)

// register is one simulated cash register. Its transactions run one at a
// time (closed loop: its own goroutine; open loop: taken from the idle
// pool), so only stan is shared (with the failover client's reversals and
// network messages).
type register struct {
	c    *failover.Client
	idx  int
	tid  string
	stan atomic.Uint32
	rnd  *rand.Rand
	// Approved originals not yet completed (pre-auths, oldest first) or
	// reversed (purchases, newest last).
	preauths, purchases []original
	// batch is the register's own count of its open batch (see batch.go).
	batch *batch
	// hist records every request and queued entry; nil records nothing.
	hist *history.Log
}

// original is what a completion or reversal names in DE90.
type original struct {
	mti, stan, de7, pan string
	amount              int64
}

func (o original) de90() string { return wire.OriginalDataFor(o.mti, o.stan, o.de7) }

func newRegister(idx, number int, seed uint64, hist *history.Log) *register {
	return &register{idx: idx, tid: terminalID(number), rnd: rand.New(rand.NewPCG(seed, uint64(number))),
		batch: newBatch(), hist: hist}
}

// nextSTAN is the register's DE11 sequence, shared with its failover client.
func (r *register) nextSTAN() string {
	for {
		old := r.stan.Load()
		if next := old%999999 + 1; r.stan.CompareAndSwap(old, next) {
			return fmt.Sprintf("%06d", next)
		}
	}
}

// transact sends one transaction of a kind drawn from mix and records it.
func (r *register) transact(rec *Recorder, mix Mix) {
	req, kind := r.next(mix.pick(r.rnd), time.Now().UTC())
	rec.Begin()
	start := time.Now()
	resp, err := r.do(context.Background(), req)
	res := Result{Register: r.idx, Kind: kind, Latency: time.Since(start)}
	switch {
	case err == nil:
		res.Outcome, res.RC = OutcomeAnswered, resp.ResponseCode
		res.Acquirer, res.Node = acquirerTime(resp), nodeOf(resp)
		r.learn(req, kind, resp)
		r.batch.record(req, resp.ResponseCode, resp.AuthCode)
	case errors.Is(err, failover.ErrOutcomeUnknown):
		res.Outcome = OutcomeUnknown
		r.batch.unknown(req)
	case errors.Is(err, failover.ErrNotSent):
		res.Outcome = OutcomeNotSent
	default:
		res.Outcome = OutcomeError
	}
	rec.End(res)
}

// do sends req through the register's failover client and records the
// request, its answer or the lack of one, in the history.
func (r *register) do(ctx context.Context, req *wire.Message) (*wire.Message, error) {
	invoke := time.Now()
	resp, err := r.c.Do(ctx, req)
	if r.hist != nil {
		r.hist.Add(history.RequestEvent(req, invoke, time.Now(), resp, historyOutcome(err)))
	}
	return resp, err
}

// historyOutcome is the history's name for how a Do ended.
func historyOutcome(err error) string {
	switch {
	case err == nil:
		return history.Answered
	case errors.Is(err, failover.ErrOutcomeUnknown):
		return history.Unknown
	case errors.Is(err, failover.ErrNotSent):
		return history.NotSent
	}
	return history.Failed
}

// errClass names the class of a failover error: what a summary counts.
func errClass(err error) string {
	switch {
	case errors.Is(err, failover.ErrOutcomeUnknown):
		return OutcomeUnknown
	case errors.Is(err, failover.ErrNotSent):
		return OutcomeNotSent
	}
	return OutcomeError
}

// onEvent follows the failover client's queue: what it queued must be
// acknowledged before the batch closes, and an acknowledged reversal (or
// advice) counts in the batch like an answer.
func (r *register) onEvent(e failover.Event) {
	switch e.Kind {
	case failover.EventReversalQueued:
		r.batch.queued(e.Key)
		r.recordQueue(history.Queued, e)
	case failover.EventReversalAcked:
		r.batch.acked(e.Key, e.Msg, e.RC)
		r.recordQueue(history.Acked, e)
	}
}

// recordQueue records a queued or acknowledged entry: what the register
// owed, and the answer that settled it.
func (r *register) recordQueue(kind history.Kind, e failover.Event) {
	if r.hist == nil || e.Msg == nil {
		return
	}
	r.hist.Add(history.QueueEvent(kind, e.Key, e.Msg, e.RC, e.Time))
}

// acquirerTime reads DE48 AQ: the acquirer round trip of this request.
func acquirerTime(m *wire.Message) time.Duration {
	v, _ := m.Private.Get(wire.TagAcquirerUS)
	us, err := strconv.ParseInt(v, 10, 64)
	if err != nil || us < 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

func nodeOf(m *wire.Message) string {
	v, _ := m.Private.Get(wire.TagNodeID)
	return v
}

// next builds the register's next request of kind (or its stand-in when
// there is nothing to complete or reverse) and says which kind it is.
func (r *register) next(kind string, now time.Time) (*wire.Message, string) {
	m := &wire.Message{
		MTI: wire.MTIFinancial, ProcCode: "000000", TransmissionTime: now.Format(wire.LayoutTransmissionTime), STAN: r.nextSTAN(),
		LocalTime: now.Format(wire.LayoutLocalTime), LocalDate: now.Format(wire.LayoutLocalDate), TerminalID: r.tid,
		MerchantID: merchantID, Currency: currency,
	}
	switch {
	case kind == KindEcho:
		m.MTI, m.ProcCode, m.NetworkCode = wire.MTINetwork, "", wire.NetEcho
		m.LocalTime, m.LocalDate, m.MerchantID, m.Currency = "", "", "", ""
		return m, kind
	case kind == KindCompletion && len(r.preauths) > 0:
		o := r.preauths[0]
		r.preauths = r.preauths[1:]
		m.MTI, m.OriginalData = wire.MTIFinancialAdvice, o.de90()
		r.card(m, o.pan, o.amount)
		return m, kind
	case kind == KindReversal && len(r.purchases) > 0:
		o := r.purchases[len(r.purchases)-1]
		r.purchases = r.purchases[:len(r.purchases)-1]
		m.MTI, m.OriginalData, m.Amount, m.HasAmount = wire.MTIReversal, o.de90(), o.amount, true
		return m, kind
	case kind == KindCompletion || kind == KindPreAuth:
		m.MTI, kind = wire.MTIAuth, KindPreAuth
	case kind == KindRefund:
		m.ProcCode = "200000"
	default:
		kind = KindPurchase
	}
	cards := Cards()
	r.card(m, cards[r.rnd.IntN(len(cards))], 100+r.rnd.Int64N(20000))
	return m, kind
}

// Cards are the test PANs the registers use: what a scan of the cluster's
// files for card data at rest looks for (FAULTS.md I8). Both are
// distinctive in every form the scan tries: 5500000000000004 packs to BCD
// 55 00 00 00 00 00 00 04, which big-endian integer keys in bbolt contain.
func Cards() []string { return []string{"4111111111111111", "5555555555554444"} }

func (r *register) card(m *wire.Message, pan string, amount int64) {
	m.PAN, m.Expiry, m.POSEntryMode, m.POSCondition = pan, "3012", "051", "00"
	m.Amount, m.HasAmount = amount, true
}

// learn remembers an approved pre-auth or purchase for a later completion
// or reversal.
func (r *register) learn(req *wire.Message, kind string, resp *wire.Message) {
	if resp.ResponseCode != wire.RCApproved {
		return
	}
	o := original{mti: req.MTI, stan: req.STAN, de7: req.TransmissionTime, pan: req.PAN, amount: req.Amount}
	switch kind {
	case KindPreAuth:
		r.preauths = appendBounded(r.preauths, o)
	case KindPurchase:
		r.purchases = appendBounded(r.purchases, o)
	}
}

func appendBounded(s []original, o original) []original {
	if len(s) >= keepOriginals {
		s = append(s[:0], s[1:]...)
	}
	return append(s, o)
}
