package store

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/tillgate/tillgate/wire"
)

// Register batches. Each terminal has one open batch, numbered from 1;
// every INTENT records the number open when it is applied (Txn.Batch), and
// Apply keeps the cluster's running totals of every batch as its
// transactions change status (countInBatch), so a 0500 is answered from
// one read instead of a scan. A 0500 whose totals equal the cluster's
// closes the batch; one that differs leaves it open (RC 95) for a batch
// upload (0320 per transaction), after which a 0500 with DE3 960000, or an
// operator, closes it anyway; the difference stays on record for the
// reconciliation report. Every request is answered once: a repeat gets the
// first answer (bucketBatchReqs).

// countTxn counts t into bt, sign times (1 to count, -1 to take it out), as
// if its status were st: only an approved transaction counts, where
// wire.BucketOf puts its type (a reversal by its own DE3).
func countTxn(bt *wire.Totals, t *Txn, st Status, sign int64) {
	if st != StatusApproved {
		return
	}
	bt.Count(wire.BucketOf(t.Type.Kind(), t.ProcCode), sign, t.Amount)
}

// BatchStatus is where a register batch stands.
type BatchStatus uint8

// Batch statuses.
const (
	BatchOpen              BatchStatus = 1 // transactions join it
	BatchOutOfBalance      BatchStatus = 2 // still open: its last 0500 differed (95)
	BatchClosed            BatchStatus = 3 // closed by a 0500 that balanced
	BatchClosedAfterUpload BatchStatus = 4 // closed by a 0500 960000 after a batch upload
	BatchClosedByOperator  BatchStatus = 5
)

func (s BatchStatus) String() string {
	switch s {
	case BatchOpen:
		return "open"
	case BatchOutOfBalance:
		return "out_of_balance"
	case BatchClosed:
		return "closed"
	case BatchClosedAfterUpload:
		return "closed_after_upload"
	case BatchClosedByOperator:
		return "closed_by_operator"
	}
	return "batch(" + strconv.Itoa(int(s)) + ")"
}

// Closed reports whether the batch takes no more transactions.
func (s BatchStatus) Closed() bool { return s >= BatchClosed }

// Batch is one register batch.
type Batch struct {
	Terminal string
	Number   uint64
	Status   BatchStatus
	// Ours: the cluster's totals; for an open batch the running ones, for
	// a closed one those at its close.
	Ours wire.Totals
	// Register: the totals of the register's last 0500, if HasRegister.
	Register    wire.Totals
	HasRegister bool
	Uploads     int64 // 0320s received
	ClosedAt    int64
	CloseID     string // identity of the request that closed it
}

// Balanced reports whether the register's last totals equal ours.
func (b *Batch) Balanced() bool { return b.HasRegister && b.Register == b.Ours }

// BatchMode says how a batch close was asked for.
type BatchMode uint8

// Batch close modes.
const (
	BatchSettle      BatchMode = 1 // 0500 DE3 920000: close if the totals agree
	BatchAfterUpload BatchMode = 2 // 0500 DE3 960000: close, keep the difference
	BatchByOperator  BatchMode = 3 // tillctl: close whatever the totals
)

// BatchReq is a decoded batch command.
type BatchReq struct {
	ID       string // the request's identity (DE41+DE11+DE7), or an operator's request id
	Terminal string
	Mode     BatchMode // OpBatchClose
	Number   uint64    // BatchByOperator: the batch to close, which must be the open one
	Register wire.Totals
	Upload   Upload // OpBatchUpload
	At       int64
}

// Upload is one transaction of a batch upload, as the register recorded it.
type Upload struct {
	OriginalID   string // the identity of the register's original request
	ProcCode     string
	Amount       int64
	RC, AuthCode string
}

// BatchAnswer is what a batch command answered.
type BatchAnswer struct {
	Terminal string
	Number   uint64
	RC       string // 00, or 95 for a 0500 out of balance
	Ours     wire.Totals
}

// RCs of batch answers, as wire spells them (store imports no wire).
const (
	rcApproved  = "00"
	rcReconcile = "95"
)

// BatchCloseCmd encodes a 0500 (mode BatchSettle or BatchAfterUpload) or
// an operator's close of batch number (mode BatchByOperator).
func BatchCloseCmd(id, terminal string, mode BatchMode, number uint64, register wire.Totals, at int64) []byte {
	w := newCmd(OpBatchClose, 160)
	w.str(id)
	w.str(terminal)
	w.byte(byte(mode))
	w.int(int64(number))
	appendBatchTotals(&w, register)
	w.int(at)
	return w.b
}

// BatchUploadCmd encodes a 0320.
func BatchUploadCmd(id, terminal string, u Upload, at int64) []byte {
	w := newCmd(OpBatchUpload, 128)
	w.str(id)
	w.str(terminal)
	w.str(u.OriginalID)
	w.str(u.ProcCode)
	w.int(u.Amount)
	w.str(u.RC)
	w.str(u.AuthCode)
	w.int(at)
	return w.b
}

func readBatchReq(op Op, r *reader) *BatchReq {
	q := &BatchReq{ID: r.str(), Terminal: r.str()}
	if op == OpBatchClose {
		q.Mode, q.Number, q.Register = BatchMode(r.byte()), uint64(r.int()), readBatchTotals(r)
	} else {
		q.Upload = Upload{OriginalID: r.str(), ProcCode: r.str(), Amount: r.int(), RC: r.str(), AuthCode: r.str()}
	}
	q.At = r.int()
	return q
}

func validateBatchReq(q *BatchReq) error {
	switch {
	case q.ID == "" || len(q.ID) > maxKeyField:
		return fmt.Errorf("%w: batch request id %q", ErrInvalid, q.ID)
	case q.Terminal == "" || len(q.Terminal) > maxKeyField || strings.ContainsRune(q.Terminal, indexSep):
		return fmt.Errorf("%w: batch terminal %q", ErrInvalid, q.Terminal)
	case len(q.Upload.OriginalID) > maxKeyField:
		return fmt.Errorf("%w: upload original id over %d bytes", ErrInvalid, maxKeyField)
	}
	return nil
}

// batchClose answers a 0500 or an operator's close.
func (a *applier) batchClose(q *BatchReq) (Result, error) {
	if err := validateBatchReq(q); err != nil || q.Mode < BatchSettle || q.Mode > BatchByOperator {
		if err == nil {
			err = fmt.Errorf("%w: batch close mode %d", ErrInvalid, q.Mode)
		}
		return Result{Err: err}, nil
	}
	if ans, err := a.answered(q.ID); ans != nil || err != nil {
		return Result{Batch: ans, Existed: true}, err
	}
	b, err := a.openBatchRecord(q.Terminal)
	if err != nil {
		return Result{}, err
	}
	if q.Mode == BatchByOperator && q.Number != b.Number {
		return Result{Err: fmt.Errorf("%w: batch %d of %s is not the open one (%d is)", ErrInvalid, q.Number, q.Terminal, b.Number)}, nil
	}
	if q.Mode != BatchByOperator {
		b.Register, b.HasRegister = q.Register, true
	}
	ans := &BatchAnswer{Terminal: b.Terminal, Number: b.Number, RC: rcApproved, Ours: b.Ours}
	switch {
	case q.Mode == BatchByOperator:
		b.Status = BatchClosedByOperator
	case b.Balanced():
		b.Status = BatchClosed
	case q.Mode == BatchAfterUpload:
		b.Status = BatchClosedAfterUpload
	default:
		b.Status, ans.RC = BatchOutOfBalance, rcReconcile
	}
	if b.Status.Closed() {
		b.ClosedAt, b.CloseID = q.At, q.ID
		if err := a.tx.Bucket(bucketBatchOpen).Put([]byte(q.Terminal), binary.BigEndian.AppendUint64(nil, b.Number+1)); err != nil {
			return Result{}, err
		}
	}
	if err := a.putBatch(b); err != nil {
		return Result{}, err
	}
	return Result{Batch: ans}, a.answer(q.ID, ans)
}

// batchUpload records one transaction of a batch upload in the open batch.
func (a *applier) batchUpload(q *BatchReq) (Result, error) {
	if err := validateBatchReq(q); err != nil {
		return Result{Err: err}, nil
	}
	if ans, err := a.answered(q.ID); ans != nil || err != nil {
		return Result{Batch: ans, Existed: true}, err
	}
	b, err := a.openBatchRecord(q.Terminal)
	if err != nil {
		return Result{}, err
	}
	key := append(batchKey(q.Terminal, b.Number), indexSep)
	key = append(key, q.Upload.OriginalID...)
	if err := a.tx.Bucket(bucketBatchUpload).Put(key, appendUpload(nil, q.Upload)); err != nil {
		return Result{}, err
	}
	b.Uploads++
	if err := a.putBatch(b); err != nil {
		return Result{}, err
	}
	ans := &BatchAnswer{Terminal: b.Terminal, Number: b.Number, RC: rcApproved, Ours: b.Ours}
	return Result{Batch: ans}, a.answer(q.ID, ans)
}

// openBatch is the number of terminal's open batch.
func (a *applier) openBatch(terminal string) (uint64, error) {
	return openBatchIn(a.tx.Bucket(bucketBatchOpen).Get([]byte(terminal)))
}

func openBatchIn(v []byte) (uint64, error) {
	switch len(v) {
	case 0:
		return 1, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("%w: open batch of %d bytes", ErrCorrupt, len(v))
}

// openBatchRecord is terminal's open batch with its running totals.
func (a *applier) openBatchRecord(terminal string) (*Batch, error) {
	n, err := a.openBatch(terminal)
	if err != nil {
		return nil, err
	}
	return batchIn(a.tx.Bucket(bucketBatches).Get(batchKey(terminal, n)), a.tx.Bucket(bucketBatchTotals).Get(batchKey(terminal, n)), terminal, n)
}

// batchIn decodes a batch record (nil: none yet, the batch is open) and,
// while it is open, puts its running totals in Ours.
func batchIn(rec, totals []byte, terminal string, n uint64) (*Batch, error) {
	b := &Batch{Terminal: terminal, Number: n, Status: BatchOpen}
	if rec != nil {
		var err error
		if b, err = decodeBatch(rec); err != nil {
			return nil, fmt.Errorf("batch %s/%d: %w", terminal, n, err)
		}
	}
	if b.Status.Closed() {
		return b, nil
	}
	t, err := decodeBatchTotals(totals)
	if err != nil {
		return nil, fmt.Errorf("batch totals %s/%d: %w", terminal, n, err)
	}
	b.Ours = t
	return b, nil
}

// countInBatch moves t's effect on its batch's running totals from status
// prev to its status now.
func (a *applier) countInBatch(t *Txn, prev Status) error {
	if t.Batch == 0 || t.Status == prev {
		return nil
	}
	var d wire.Totals
	countTxn(&d, t, prev, -1)
	countTxn(&d, t, t.Status, 1)
	if d == (wire.Totals{}) {
		return nil
	}
	b := a.tx.Bucket(bucketBatchTotals)
	key := batchKey(t.TerminalID, t.Batch)
	tot, err := decodeBatchTotals(b.Get(key))
	if err != nil {
		return fmt.Errorf("batch totals %s/%d: %w", t.TerminalID, t.Batch, err)
	}
	tot.Add(d)
	if tot == (wire.Totals{}) {
		return b.Delete(key)
	}
	w := writer{}
	appendBatchTotals(&w, tot)
	return b.Put(key, w.b)
}

func (a *applier) answered(id string) (*BatchAnswer, error) {
	v := a.tx.Bucket(bucketBatchReqs).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	r := reader{b: v}
	ans := &BatchAnswer{Terminal: r.str(), Number: uint64(r.int()), RC: r.str(), Ours: readBatchTotals(&r)}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("batch answer %s: %w", id, err)
	}
	return ans, nil
}

func (a *applier) answer(id string, ans *BatchAnswer) error {
	w := writer{}
	w.str(ans.Terminal)
	w.int(int64(ans.Number))
	w.str(ans.RC)
	appendBatchTotals(&w, ans.Ours)
	return a.tx.Bucket(bucketBatchReqs).Put([]byte(id), w.b)
}

func (a *applier) putBatch(b *Batch) error {
	return a.tx.Bucket(bucketBatches).Put(batchKey(b.Terminal, b.Number), appendBatch(nil, b))
}

// batchKey is terminal|number(8 bytes big-endian): one terminal's batches
// sort together, in order.
func batchKey(terminal string, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(terminal), indexSep), n)
}

func appendBatchTotals(w *writer, t wire.Totals) {
	for _, v := range [...]int64{t.CreditsCount, t.CreditsReversalCount, t.DebitsCount, t.DebitsReversalCount,
		t.CreditsAmount, t.CreditsReversalAmount, t.DebitsAmount, t.DebitsReversalAmount, t.NetAmount} {
		w.int(v)
	}
}

func readBatchTotals(r *reader) wire.Totals {
	return wire.Totals{
		CreditsCount: r.int(), CreditsReversalCount: r.int(), DebitsCount: r.int(), DebitsReversalCount: r.int(),
		CreditsAmount: r.int(), CreditsReversalAmount: r.int(), DebitsAmount: r.int(), DebitsReversalAmount: r.int(),
		NetAmount: r.int(),
	}
}

func decodeBatchTotals(v []byte) (wire.Totals, error) {
	if v == nil {
		return wire.Totals{}, nil
	}
	r := reader{b: v}
	t := readBatchTotals(&r)
	return t, r.done()
}

const batchVersion = 1

func appendBatch(b []byte, x *Batch) []byte {
	w := writer{b: b}
	w.byte(batchVersion)
	w.str(x.Terminal)
	w.int(int64(x.Number))
	w.byte(byte(x.Status))
	appendBatchTotals(&w, x.Ours)
	appendBatchTotals(&w, x.Register)
	w.bool(x.HasRegister)
	w.int(x.Uploads)
	w.int(x.ClosedAt)
	w.str(x.CloseID)
	return w.b
}

func decodeBatch(v []byte) (*Batch, error) {
	r := reader{b: v}
	if ver := r.byte(); ver != batchVersion && r.err == nil {
		r.failf("batch version %d", ver)
	}
	b := &Batch{Terminal: r.str(), Number: uint64(r.int()), Status: BatchStatus(r.byte())}
	b.Ours, b.Register = readBatchTotals(&r), readBatchTotals(&r)
	b.HasRegister, b.Uploads, b.ClosedAt, b.CloseID = r.bool(), r.int(), r.int(), r.str()
	return b, r.done()
}

func appendUpload(b []byte, u Upload) []byte {
	w := writer{b: b}
	w.str(u.OriginalID)
	w.str(u.ProcCode)
	w.int(u.Amount)
	w.str(u.RC)
	w.str(u.AuthCode)
	return w.b
}

func decodeUpload(v []byte) (Upload, error) {
	r := reader{b: v}
	u := Upload{OriginalID: r.str(), ProcCode: r.str(), Amount: r.int(), RC: r.str(), AuthCode: r.str()}
	return u, r.done()
}
