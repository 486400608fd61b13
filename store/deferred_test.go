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

// A deferring store (a follower's) commits batches together, and a read
// commits first: it sees every batch ApplyBatch has returned.
func TestDeferredCommitsAreReadAfterCommitting(t *testing.T) {
	v := mustVault(t)
	var h countingHook
	s := openHooked(t, filepath.Join(t.TempDir(), "state.db"), &h)
	s.DeferCommits(true)
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

// Leading again (DeferCommits(false)) commits what is pending at once, and
// from then on every batch is committed before ApplyBatch returns.
func TestLeadingCommitsPendingBatches(t *testing.T) {
	v := mustVault(t)
	var h countingHook
	s := openHooked(t, filepath.Join(t.TempDir(), "state.db"), &h)
	s.DeferCommits(true)
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 1)))
	s.DeferCommits(false)
	if got := h.commits.Load(); got != 1 {
		t.Fatalf("%d commits after leading, want 1", got)
	}
	l.ok(IntentCmd(newTxn(t, v, 2, TypePurchase, 2)))
	if got := h.commits.Load(); got != 2 {
		t.Fatalf("%d commits after a leader's batch, want 2", got)
	}
}

// A deferred commit that fails stops the store within deferDelay, with no
// further batch or read to make it commit: a follower's failing disk must
// show (the node stops) as it did with a commit per batch. The applied
// index falls back to what the file holds.
func TestDeferredCommitFailureStopsTheStore(t *testing.T) {
	v := mustVault(t)
	var h countingHook
	s := openHooked(t, filepath.Join(t.TempDir(), "state.db"), &h)
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 1)))
	s.DeferCommits(true)
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
	s.DeferCommits(true)
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
	s.DeferCommits(true)
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
