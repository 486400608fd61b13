package store

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// countingHook counts commits that carry entries and fails them while
// failing is set.
type countingHook struct {
	commits atomic.Int64
	failing atomic.Bool
}

func (h *countingHook) hook() error {
	h.commits.Add(1)
	if h.failing.Load() {
		return errors.New("injected: disk write failed")
	}
	return nil
}

func openHooked(t *testing.T, path string, h *countingHook) *Store {
	t.Helper()
	s, err := Open(path, Options{NoSync: true, CommitHook: h.hook})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A NoSync store (the node's) commits the register path's batches
// together, and a read commits first: it sees every batch ApplyBatch has
// returned.
func TestDeferredCommitsAreReadAfterCommitting(t *testing.T) {
	v := mustVault(t)
	var h countingHook
	s := openHooked(t, filepath.Join(t.TempDir(), "state.db"), &h)
	l := newLog(t, s)
	for n := 1; n <= 3; n++ {
		l.ok(IntentCmd(newTxn(t, v, n, TypePurchase, int64(n))))
	}
	if got := h.commits.Load(); got != 0 {
		t.Fatalf("%d commits after three deferred batches, want none yet", got)
	}
	if s.AppliedIndex() != 3 {
		t.Fatalf("applied index %d, want 3", s.AppliedIndex())
	}
	for n := 1; n <= 3; n++ {
		if _, ok, err := s.Get(idOf(n)); !ok || err != nil {
			t.Fatalf("read of deferred batch %d: found %v, %v", n, ok, err)
		}
	}
	if got := h.commits.Load(); got != 1 {
		t.Fatalf("%d commits after the reads, want the one the first read made", got)
	}
}

// A registry change is committed before ApplyBatch returns, with what
// was pending: Terminal, which every request reads, reads the committed
// file and must not commit deferred batches itself (a commit per request).
func TestRegistryChangesAreNotDeferred(t *testing.T) {
	v := mustVault(t)
	var h countingHook
	s := openHooked(t, filepath.Join(t.TempDir(), "state.db"), &h)
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 1)))
	if r := l.apply(TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000001", Merchant: testMerchant, Store: "s"})); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := h.commits.Load(); got != 1 {
		t.Fatalf("%d commits after a registry change, want 1", got)
	}
	l.ok(IntentCmd(newTxn(t, v, 2, TypePurchase, 2)))
	if _, ok, err := s.Terminal("T0000001"); !ok || err != nil {
		t.Fatalf("terminal added: found %v, %v", ok, err)
	}
	if got := h.commits.Load(); got != 1 {
		t.Fatalf("%d commits after reading a terminal, want still 1 (the INTENT after it stays deferred)", got)
	}
	if r := l.apply(TerminalsBlockCmd(TerminalRange{From: "T0000001"}, true, testEpoch+1)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if term, _, err := s.Terminal("T0000001"); !term.Blocked || err != nil {
		t.Fatalf("terminal read after its block was applied: blocked %v, %v", term.Blocked, err)
	}
}

// A deferred commit that fails stops the store within deferDelay, with no
// further batch or read to make it commit: a failing disk must
// show (the node stops) as it did with a commit per batch. The applied
// index falls back to what the file holds.
func TestDeferredCommitFailureStopsTheStore(t *testing.T) {
	v := mustVault(t)
	var h countingHook
	s := openHooked(t, filepath.Join(t.TempDir(), "state.db"), &h)
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 1)))
	if _, _, err := s.Get(idOf(1)); err != nil { // commits it
		t.Fatal(err)
	}
	h.failing.Store(true)
	l.ok(IntentCmd(newTxn(t, v, 2, TypePurchase, 2)))
	l.ok(IntentCmd(newTxn(t, v, 3, TypePurchase, 3)))
	select {
	case <-s.Stopped():
	case <-time.After(time.Minute):
		t.Fatal("the deferred commit failed and the store never stopped")
	}
	if s.AppliedIndex() != 1 {
		t.Fatalf("applied index %d after the failed commit, want 1 (the file's)", s.AppliedIndex())
	}
	res := s.ApplyBatch([]uint64{4}, [][]byte{IntentCmd(newTxn(t, v, 4, TypePurchase, 4))})
	if r := res[0].(Result); !errors.Is(r.Err, ErrFailed) {
		t.Fatalf("batch after the failure: %+v, want ErrFailed", r)
	}
	if _, ok, err := s.Get(idOf(2)); ok || err != nil {
		t.Fatalf("read of the lost batch: found %v, %v; want absent (Raft replays it after the restart)", ok, err)
	}
	if _, ok, err := s.Get(idOf(1)); !ok || err != nil {
		t.Fatalf("read of the committed batch: found %v, %v", ok, err)
	}
}

// Close commits what is pending: a clean restart finds every batch.
func TestCloseCommitsDeferredBatches(t *testing.T) {
	v := mustVault(t)
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 1)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenPath(t, path, true)
	if s.AppliedIndex() != 1 {
		t.Fatalf("applied index %d after a clean restart, want 1", s.AppliedIndex())
	}
	if _, ok, err := s.Get(idOf(1)); !ok || err != nil {
		t.Fatalf("deferred batch after a clean restart: found %v, %v", ok, err)
	}
}

// A snapshot holds the batches still pending, under the applied index
// the cluster labels it with.
func TestSnapshotHoldsDeferredBatches(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 1)))
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := mustOpen(t, true)
	if err := other.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if other.AppliedIndex() != 1 {
		t.Fatalf("restored applied index %d, want 1", other.AppliedIndex())
	}
	if _, ok, err := other.Get(idOf(1)); !ok || err != nil {
		t.Fatalf("deferred batch in the snapshot: found %v, %v", ok, err)
	}
}
