package loadtest

import (
	"sync"

	"github.com/tillgate/tillgate/wire"
)

// batchBucket says where req counts once approved, as the cluster counts it
// (wire.BucketOf): by the MTI and DE3 of the request itself (a reversal by
// its own DE3).
func batchBucket(req *wire.Message) wire.Bucket { return wire.BucketOf(req.Kind(), req.ProcCode) }

// countsInNet reports a debit or credit: what a reversal takes back.
func countsInNet(b wire.Bucket) bool { return b == wire.BucketDebit || b == wire.BucketCredit }

// batchTx is one transaction of a register's open batch: what a 0320
// upload repeats of it.
type batchTx struct {
	mti, stan, de7, proc string // the request as first sent (MTI without the repeat digit)
	amount               int64
	merchant, currency   string
	authCode, rc         string // as the register recorded them
	bucket               wire.Bucket
	reversed             bool // a reversal of it was answered 00 in this batch
}

// origKey is how a DE90 names the transaction: MTI + DE11 + DE7.
func (t *batchTx) origKey() string { return t.mti + t.stan + t.de7 }

// batch is one register's model of its open batch, counted the way the
// cluster counts (DESIGN.md, State and settlement): from the answers its
// requests got, and from the reversals its failover client queued and a
// node acknowledged. It is safe for concurrent use: answers come from the
// register's goroutine, acknowledgements from the client's.
type batch struct {
	mu   sync.Mutex
	txs  []*batchTx          // approved, in order of the answers: the upload
	byID map[string]*batchTx // by origKey, to mark reversals and skip repeats
	// pending counts, by the original's key, the entries the failover
	// client queued and has not reported acknowledged: the register must
	// not close its batch while any is positive.
	pending map[string]int
	// unknowns are the batch's debits and credits whose outcome the
	// register never learnt (its reversal may have been acknowledged, but
	// that says nothing of the original): the only honest reason for the
	// cluster's totals to differ from the register's (explain.go).
	unknowns []unknownTx
}

func newBatch() *batch {
	return &batch{byID: map[string]*batchTx{}, pending: map[string]int{}}
}

// record counts req if rc approved it. A second answer for the same
// identity (a repeat) is the same transaction and counts once.
func (b *batch) record(req *wire.Message, rc, authCode string) {
	bucket := batchBucket(req)
	if rc != wire.RCApproved || bucket == wire.BucketNone {
		return
	}
	t := &batchTx{
		mti: wire.OriginalMTI(req.MTI), stan: req.STAN, de7: req.TransmissionTime, proc: req.ProcCode,
		amount: req.Amount, merchant: req.MerchantID, currency: req.Currency,
		authCode: authCode, rc: rc, bucket: bucket,
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byID[t.origKey()] != nil {
		return
	}
	b.byID[t.origKey()] = t
	b.txs = append(b.txs, t)
	if req.Kind().Reversal() {
		if len(req.OriginalData) >= 20 {
			if o := b.byID[req.OriginalData[:20]]; o != nil && countsInNet(o.bucket) {
				o.reversed = true
			}
		}
	}
}

// unknown notes a request whose outcome the register never learnt. Only a
// 0200 can count in the batch without the register knowing: a reversal
// or advice left unknown is itself queued, and its acknowledgement is its
// outcome.
func (b *batch) unknown(req *wire.Message) {
	bucket := batchBucket(req)
	if wire.OriginalMTI(req.MTI) != wire.MTIFinancial || !countsInNet(bucket) {
		return
	}
	b.mu.Lock()
	b.unknowns = append(b.unknowns, unknownTx{key: req.Key(), bucket: bucket, amount: req.Amount})
	b.mu.Unlock()
}

// queued notes an entry the failover client queued for the request of key.
func (b *batch) queued(of string) {
	b.mu.Lock()
	b.adjust(of, 1)
	b.mu.Unlock()
}

// acked counts an acknowledged queued entry (msg answered rc) and clears
// it from pending in one step, so that a drained register has counted it.
func (b *batch) acked(of string, msg *wire.Message, rc string) {
	if msg != nil {
		b.record(msg, rc, "")
	}
	b.mu.Lock()
	b.adjust(of, -1)
	b.mu.Unlock()
}

func (b *batch) adjust(of string, d int) {
	if n := b.pending[of] + d; n != 0 {
		b.pending[of] = n
	} else {
		delete(b.pending, of)
	}
}

// settled reports that no queued entry waits for its acknowledgement. An
// acknowledgement of an entry from an earlier run (no queued event) leaves
// a negative count, which does not hold the batch.
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

// transactions returns a copy of the batch's transactions, for upload.
func (b *batch) transactions() []batchTx {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]batchTx, len(b.txs))
	for i, t := range b.txs {
		out[i] = *t
	}
	return out
}

// reset starts a new batch once the cluster closed this one. Pending
// counts stay: they belong to the client's queue, not to the batch.
func (b *batch) reset() {
	b.mu.Lock()
	b.txs, b.byID, b.unknowns = nil, map[string]*batchTx{}, nil
	b.mu.Unlock()
}

// upload is the 0320 that reports t: its own identity (stan, de7), DE90
// naming the original, DE3, DE4, DE38 and DE39 as recorded.
func (t *batchTx) upload(tid, stan, de7 string) *wire.Message {
	m := &wire.Message{
		MTI: wire.MTIBatchUpload, ProcCode: t.proc, Amount: t.amount, HasAmount: true, TransmissionTime: de7, STAN: stan,
		ResponseCode: t.rc, TerminalID: tid, MerchantID: t.merchant, Currency: t.currency,
		OriginalData: wire.OriginalDataFor(t.mti, t.stan, t.de7),
	}
	if len(t.authCode) == 6 {
		m.AuthCode = t.authCode
	}
	return m
}
