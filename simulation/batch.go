package simulation

import (
	"sync"

	"github.com/tillgate/tillgate/wire"
)

// batchBucket says where req counts once approved, as the cluster counts
// it (wire.BucketOf, store/batch.go): by the MTI and DE3 of the request
// itself.
func batchBucket(req *wire.Message) wire.Bucket { return wire.BucketOf(req.Kind(), req.ProcCode) }

// countsInNet reports a debit or credit: what a reversal takes back.
func countsInNet(b wire.Bucket) bool { return b == wire.BucketDebit || b == wire.BucketCredit }

// batchTx is one approved transaction of a register's open batch.
type batchTx struct {
	mti, stan, de7, proc string
	amount               int64
	authCode             string
	bucket               wire.Bucket
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
	bucket := batchBucket(req)
	if rc != wire.RCApproved || bucket == wire.BucketNone {
		return
	}
	t := &batchTx{
		mti: wire.OriginalMTI(req.MTI), stan: req.STAN, de7: req.TransmissionTime, proc: req.ProcCode,
		amount: req.Amount, authCode: authCode, bucket: bucket,
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byID[t.origKey()] != nil {
		return
	}
	b.byID[t.origKey()] = t
	b.txs = append(b.txs, t)
	if req.Kind().Reversal() && len(req.OriginalData) >= 20 {
		if o := b.byID[req.OriginalData[:20]]; o != nil && countsInNet(o.bucket) {
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
		if !x.reversed { // a reversed debit or credit counts nowhere; its reversal does
			t.Count(x.bucket, 1, x.amount)
		}
	}
	return t
}

// uploads are the 0320s that report the batch, one per transaction.
func (b *batch) uploads(tid string, stan func() string, de7 string) []*wire.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*wire.Message, 0, len(b.txs))
	for _, t := range b.txs {
		m := &wire.Message{
			MTI: wire.MTIBatchUpload, ProcCode: t.proc, Amount: t.amount, HasAmount: true, TransmissionTime: de7, STAN: stan(),
			ResponseCode: wire.RCApproved, TerminalID: tid, MerchantID: merchantID, Currency: currency,
			OriginalData: wire.OriginalDataFor(t.mti, t.stan, t.de7),
		}
		if len(t.authCode) == 6 {
			m.AuthCode = t.authCode
		}
		out = append(out, m)
	}
	return out
}
