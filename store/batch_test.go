package store

import (
	"testing"

	"github.com/tillgate/tillgate/wire"
)

// The cluster's running batch totals follow every status change, by the
// rules of wire.Totals.
func TestBatchTotals(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.txn(newTxn(t, v, 1, TypePurchase, 1000), StatusApproved)
	l.txn(newTxn(t, v, 2, TypeRefund, 300), StatusApproved)
	l.txn(newTxn(t, v, 3, TypeCashback, 500), StatusApproved)
	l.txn(newTxn(t, v, 4, TypePreAuth, 800), StatusApproved)
	l.txn(linkedTxn(t, v, 5, TypeCompletion, 700, 4), StatusApproved)
	l.txn(newTxn(t, v, 6, TypePurchase, 900), StatusDeclined)
	l.txn(newTxn(t, v, 7, TypePurchase, 400), StatusApproved)
	l.txn(linkedTxn(t, v, 8, TypeReversal, 400, 7), StatusApproved) // a void
	l.txn(newTxn(t, v, 9, TypeBalance, 0), StatusApproved)
	want := wire.Totals{
		DebitsCount: 3, DebitsAmount: 1000 + 500 + 700,
		CreditsCount: 1, CreditsAmount: 300,
		DebitsReversalCount: 1, DebitsReversalAmount: 400,
		NetAmount: 2200 - 300,
	}
	b, ok, err := s.Batch(testTerminal, 0)
	if err != nil || !ok || b.Number != 1 || b.Status != BatchOpen || b.Ours != want {
		t.Fatalf("batch %+v %v %v\nwant ours %+v", b, ok, err, want)
	}
}

// 0500: out of balance answers 95 and keeps the batch open; a repeat gets
// the first answer; balanced totals close it and open the next; an upload
// and a 0500 960000 close an unbalanced one.
func TestBatchClose(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.txn(newTxn(t, v, 1, TypePurchase, 1000), StatusApproved)
	ours := wire.Totals{DebitsCount: 1, DebitsAmount: 1000, NetAmount: 1000}
	wrong := ours
	wrong.DebitsAmount, wrong.NetAmount = 999, 999

	r := l.apply(BatchCloseCmd("req-1", testTerminal, BatchSettle, 0, wrong, testEpoch))
	if r.Err != nil || r.Batch.RC != "95" || r.Batch.Ours != ours || r.Batch.Number != 1 {
		t.Fatalf("out of balance: %+v %+v", r, r.Batch)
	}
	if b, _, _ := s.Batch(testTerminal, 0); b.Number != 1 || b.Status != BatchOutOfBalance || b.Register != wrong {
		t.Fatalf("after 95: %+v", b)
	}
	// The repeat of req-1 is answered 95 again, even if the totals now
	// agree, and changes nothing.
	r = l.apply(BatchCloseCmd("req-1", testTerminal, BatchSettle, 0, ours, testEpoch))
	if !r.Existed || r.Batch.RC != "95" {
		t.Fatalf("repeat: %+v %+v", r, r.Batch)
	}
	if r = l.apply(BatchCloseCmd("req-2", testTerminal, BatchSettle, 0, ours, testEpoch+1)); r.Batch.RC != "00" {
		t.Fatalf("balanced: %+v", r.Batch)
	}
	next := l.txn(newTxn(t, v, 2, TypePurchase, 50), StatusApproved)
	if next.Batch != 2 {
		t.Fatalf("transaction after the close in batch %d, want 2", next.Batch)
	}
	closed, _, _ := s.Batch(testTerminal, 1)
	if closed.Status != BatchClosed || closed.Ours != ours || closed.CloseID != "req-2" {
		t.Fatalf("closed batch: %+v", closed)
	}

	// Batch 2: out of balance, upload, close after upload.
	l.apply(BatchCloseCmd("req-3", testTerminal, BatchSettle, 0, wire.Totals{}, testEpoch+2))
	up := Upload{OriginalID: idOf(2), ProcCode: "000000", Amount: 50, RC: "00", AuthCode: "AUTH01"}
	if r = l.apply(BatchUploadCmd("req-4", testTerminal, up, testEpoch+3)); r.Err != nil || r.Batch.RC != "00" {
		t.Fatalf("upload: %+v", r)
	}
	if r = l.apply(BatchCloseCmd("req-5", testTerminal, BatchAfterUpload, 0, wire.Totals{}, testEpoch+4)); r.Batch.RC != "00" {
		t.Fatalf("after upload: %+v", r.Batch)
	}
	b2, _, _ := s.Batch(testTerminal, 2)
	if b2.Status != BatchClosedAfterUpload || b2.Uploads != 1 || b2.Balanced() {
		t.Fatalf("batch 2: %+v", b2)
	}
	if ups, err := s.BatchUploads(testTerminal, 2); err != nil || len(ups) != 1 || ups[0] != up {
		t.Fatalf("uploads %+v %v", ups, err)
	}
	// An operator closes the (empty) batch 3 by number; naming another
	// batch is refused.
	if r = l.apply(BatchCloseCmd("op-1", testTerminal, BatchByOperator, 2, wire.Totals{}, testEpoch+5)); r.Err == nil {
		t.Fatalf("operator close of a closed batch: %+v", r)
	}
	if r = l.apply(BatchCloseCmd("op-2", testTerminal, BatchByOperator, 3, wire.Totals{}, testEpoch+5)); r.Err != nil || r.Batch.RC != "00" {
		t.Fatalf("operator close: %+v", r)
	}
	all, err := s.Batches(testTerminal)
	if err != nil || len(all) != 4 || all[2].Status != BatchClosedByOperator || all[3].Number != 4 || all[3].Status != BatchOpen {
		t.Fatalf("batches: %v", err)
	}
}
