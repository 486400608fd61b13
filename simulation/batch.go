package simulation

import (
	"strings"
	"sync"

	"github.com/tillgate/tillgate/wire"
)

// txClass is where a transaction counts in a register's batch totals.
type txClass uint8

const (
	classNone           txClass = iota // pre-auths, advices, balance inquiries, network
	classDebit                         // purchases, cashback, completions
	classCredit                        // refunds
	classDebitReversal                 // 0400/0420 of anything but a refund
	classCreditReversal                // 0400/0420 with DE3 20xxxx
)

// classify says where req counts once approved, as the cluster counts it
// (store/batch.go): by the MTI and DE3 of the request itself.
func classify(req *wire.Message) txClass {
	proc2 := ""
	if len(req.ProcCode) >= 2 {
		proc2 = req.ProcCode[:2]
	}
	switch wire.OriginalMTI(req.MTI) {
	case "0200":
		switch proc2 {
		case "00", "09":
			return classDebit
		case "20":
			return classCredit
		}
	case "0220":
		if strings.HasPrefix(req.OriginalData, "0100") {
			return classDebit
		}
	case "0400", "0420":
		if proc2 == "20" {
			return classCreditReversal
		}
		return classDebitReversal
	}
	return classNone
}

// batchTx is one approved transaction of a register's open batch.
type batchTx struct {
	mti, stan, de7, proc string
	amount               int64
	authCode             string
	class                txClass
	reversed             bool // a reversal of it was approved in this batch
}

// origKey is how DE90 names the transaction: MTI + DE11 + DE7.
func (t *batchTx) origKey() string { return t.mti + t.stan + t.de7 }

// batch is a register's own count of its open batch, from the answers it
// got and the queued entries a node acknowledged. Answers come from the
// register's goroutine, acknowledgements from its client's.
type batch struct {
	mu   sync.Mutex
	txs  []*batchTx
	byID map[string]*batchTx
	// pending counts, per request key, entries queued and not yet
	// reported acknowledged: the batch must not close while one is.
	pending map[string]int
}

func newBatch() *batch {
	return &batch{byID: map[string]*batchTx{}, pending: map[string]int{}}
}

// record counts req if rc approved it; a repeat's answer counts once.
func (b *batch) record(req *wire.Message, rc, authCode string) {
	class := classify(req)
	if rc != wire.RCApproved || class == classNone {
		return
	}
	t := &batchTx{
		mti: wire.OriginalMTI(req.MTI), stan: req.STAN, de7: req.TransmissionTime, proc: req.ProcCode,
		amount: req.Amount, authCode: authCode, class: class,
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byID[t.origKey()] != nil {
		return
	}
	b.byID[t.origKey()] = t
	b.txs = append(b.txs, t)
	if (class == classDebitReversal || class == classCreditReversal) && len(req.OriginalData) >= 20 {
		if o := b.byID[req.OriginalData[:20]]; o != nil && (o.class == classDebit || o.class == classCredit) {
			o.reversed = true
		}
	}
}

// queued notes an entry queued for the request of key of.
func (b *batch) queued(of string) { b.adjust(of, 1) }

// acked counts an acknowledged entry (msg answered rc) and clears it from
// pending in one step, so that a drained register has counted it.
func (b *batch) acked(of string, msg *wire.Message, rc string) {
	if msg != nil {
		b.record(msg, rc, "")
	}
	b.adjust(of, -1)
}

func (b *batch) adjust(of string, d int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.pending[of] + d; n != 0 {
		b.pending[of] = n
	} else {
		delete(b.pending, of)
	}
}

// settled reports that every queued entry was reported acknowledged.
func (b *batch) settled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.pending {
		if n > 0 {
			return false
		}
	}
	return true
}

// totals are the nine totals of the open batch.
func (b *batch) totals() wire.Totals {
	b.mu.Lock()
	defer b.mu.Unlock()
	var t wire.Totals
	for _, x := range b.txs {
		switch {
		case x.class == classDebit && !x.reversed:
			t.DebitsCount++
			t.DebitsAmount += x.amount
		case x.class == classCredit && !x.reversed:
			t.CreditsCount++
			t.CreditsAmount += x.amount
		case x.class == classDebitReversal:
			t.DebitsReversalCount++
			t.DebitsReversalAmount += x.amount
		case x.class == classCreditReversal:
			t.CreditsReversalCount++
			t.CreditsReversalAmount += x.amount
		}
	}
	t.NetAmount = t.DebitsAmount - t.CreditsAmount
	return t
}

// uploads are the 0320s that report the batch, one per transaction.
func (b *batch) uploads(tid string, stan func() string, de7 string) []*wire.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*wire.Message, 0, len(b.txs))
	for _, t := range b.txs {
		m := &wire.Message{
			MTI: "0320", ProcCode: t.proc, Amount: t.amount, HasAmount: true, TransmissionTime: de7, STAN: stan(),
			ResponseCode: wire.RCApproved, TerminalID: tid, MerchantID: merchantID, Currency: currency,
			OriginalData: t.origKey() + zeros22,
		}
		if len(t.authCode) == 6 {
			m.AuthCode = t.authCode
		}
		out = append(out, m)
	}
	return out
}
