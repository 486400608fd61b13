package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A NoSync store keeps its state across a clean Close and reopen.
func TestNoSyncCleanRestartKeepsState(t *testing.T) {
	path, s, idx, _ := openApplied(t, 200)
	before := mustHash(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenPath(t, path, true)
	if got, want := s.AppliedIndex(), idx[len(idx)-1]; got != want {
		t.Fatalf("applied index after a clean restart %d, want %d", got, want)
	}
	if !bytes.Equal(mustHash(t, s), before) {
		t.Fatal("state changed across a clean restart")
	}
}

// A NoSync store whose process died (no Close) may be torn: Open starts it
// empty, so that Raft restores its snapshot and replays the log, instead of
// trusting it.
func TestNoSyncCrashDiscardsState(t *testing.T) {
	path, s, idx, cmds := openApplied(t, 200)
	crash(t, s)

	s = mustOpenPath(t, path, true)
	if got := s.AppliedIndex(); got != 0 {
		t.Fatalf("applied index after a crash %d, want 0 (rebuilt from the log)", got)
	}
	// Replaying the same log gives the same state as before the crash.
	ref := mustOpen(t, true)
	ref.ApplyBatch(idx, cmds)
	s.ApplyBatch(idx, cmds)
	if !bytes.Equal(mustHash(t, s), mustHash(t, ref)) {
		t.Fatal("replayed state differs from the original")
	}
}

// A second opener of a running NoSync store fails and must not discard the
// running store's file (it has no clean marker while in use).
func TestNoSyncSecondOpenLeavesFile(t *testing.T) {
	v := mustVault(t)
	idx, cmds := randomLog(t, v, 1, 50)
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpenPath(t, path, true)
	s.ApplyBatch(idx, cmds)
	if _, err := Open(path, Options{NoSync: true}); err == nil {
		t.Fatal("second open of a running store succeeded")
	}
	if _, ok, err := s.Get(idOf(1)); err != nil || !ok {
		t.Fatalf("running store after a second open: ok %v, err %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenPath(t, path, true)
	if got, want := s.AppliedIndex(), idx[len(idx)-1]; got != want {
		t.Fatalf("applied index %d, want %d: the second opener discarded the file", got, want)
	}
}

// openApplied opens a NoSync store in a fresh directory and applies a
// random log of n entries to it; closing it is the caller's.
func openApplied(t *testing.T, n int) (path string, s *Store, idx []uint64, cmds [][]byte) {
	t.Helper()
	idx, cmds = randomLog(t, mustVault(t), 1, n)
	path = filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.ApplyBatch(idx, cmds)
	return path, s, idx, cmds
}

// crash closes the bbolt file the way a dying process leaves it: no sync,
// no clean marker.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wmu.Lock()
	s.rollbackPending() // what a crash loses
	s.wmu.Unlock()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.db = nil
}

// A torn file (here: garbage where the pages should be) without a clean
// marker is discarded without being walked: bbolt's writable open would
// panic rebuilding the freelist of such a file.
func TestNoSyncTornFileDiscarded(t *testing.T) {
	path, s, _, _ := openApplied(t, 100)
	crash(t, s)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2 * 4096; i < len(b); i++ { // keep the meta pages, tear the rest
		b[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpenPath(t, path, true)
	if got := s.AppliedIndex(); got != 0 {
		t.Fatalf("applied index of a torn file reopened %d, want 0 (discarded)", got)
	}
}
