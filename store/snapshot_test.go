package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSnapshotRestore(t *testing.T) {
	v := mustVault(t)
	idx, cmds := randomLog(t, v, 3, 400)
	src := mustOpen(t, false)
	src.ApplyBatch(idx, cmds)
	want := mustHash(t, src)

	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snap.Close() }) // runs before src's Close, should the test fail midway
	// Applying after Snapshot, with the stream not yet read, must neither
	// block (bbolt remapping behind the open read transaction) nor leak
	// into the snapshot.
	within(t, 10*time.Second, "ApplyBatch during a snapshot", func() {
		for i := range 20 {
			more, moreCmds := make([]uint64, 100), make([][]byte, 100)
			for j := range more {
				n := 10000 + i*100 + j
				more[j], moreCmds[j] = uint64(n), IntentCmd(newTxn(t, v, n, TypePurchase, 1))
			}
			src.ApplyBatch(more, moreCmds)
		}
	})

	dst := mustOpen(t, false)
	newLog(t, dst).ok(IntentCmd(newTxn(t, v, 555555, TypePurchase, 1)))
	if err := dst.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got := mustHash(t, dst); !bytes.Equal(got, want) || dst.AppliedIndex() != 400 {
		t.Fatalf("restored state differs (applied %d, want 400)", dst.AppliedIndex())
	}
	if _, ok, _ := dst.Get(idOf(555555)); ok {
		t.Fatal("restore kept state from before")
	}
	if _, err := os.Stat(dst.path + ".restore"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	// The restored store applies on from the snapshot's index.
	res := dst.ApplyBatch([]uint64{400, 401}, [][]byte{cmds[399], IntentCmd(newTxn(t, v, 999999, TypePurchase, 1))})
	if res[0] != nil || res[1].(Result).Err != nil || dst.AppliedIndex() != 401 {
		t.Fatalf("apply after restore: %v, applied %d", res, dst.AppliedIndex())
	}
}

func TestSnapshotSurvivesReopen(t *testing.T) {
	v := mustVault(t)
	idx, cmds := randomLog(t, v, 4, 100)
	src := mustOpen(t, true)
	src.ApplyBatch(idx, cmds)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	dst := mustOpenPath(t, path, true)
	if err := dst.Restore(snap); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	again := mustOpenPath(t, path, true)
	if !bytes.Equal(mustHash(t, again), mustHash(t, src)) || again.AppliedIndex() != 100 {
		t.Fatal("restored state lost on reopen")
	}
}

func TestSnapshotClosedEarly(t *testing.T) {
	v := mustVault(t)
	idx, cmds := randomLog(t, v, 5, 300)
	src := mustOpen(t, true)
	src.ApplyBatch(idx, cmds)

	early, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(early, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "Close of a half-read snapshot", func() { early.Close() })
	if _, err := early.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after Close succeeded")
	}

	never, err := src.Snapshot() // closed without a single read
	if err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "Close of an unread snapshot", func() { never.Close() })

	// With both transactions released, a Restore (which closes the file)
	// and a Close go through.
	other := mustOpen(t, true)
	full, err := other.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "Restore after abandoned snapshots", func() {
		if err := src.Restore(full); err != nil {
			t.Error(err)
		}
	})
	if !bytes.Equal(mustHash(t, src), mustHash(t, other)) {
		t.Fatal("restore of an empty state")
	}
	within(t, 5*time.Second, "Close", func() {
		if err := src.Close(); err != nil {
			t.Error(err)
		}
	})
}

func TestRestoreRefusesGarbage(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	newLog(t, s).ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 100)))
	want := mustHash(t, s)

	// A bbolt file without our meta bucket.
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	fs := mustOpenPath(t, foreign, true)
	fs.mu.RLock()
	fs.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketMeta) })
	fs.mu.RUnlock()
	foreignSnap, err := fs.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	for name, rc := range map[string]io.ReadCloser{
		"not a database": io.NopCloser(bytes.NewReader([]byte("not a database"))),
		"empty":          io.NopCloser(bytes.NewReader(nil)),
		"foreign":        foreignSnap,
		"broken stream":  io.NopCloser(io.MultiReader(bytes.NewReader(make([]byte, 100)), errReader{})),
	} {
		if err := s.Restore(rc); err == nil {
			t.Fatalf("%s: restore accepted", name)
		}
		if got := mustHash(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%s: a refused restore changed the state", name)
		}
	}
	if _, err := os.Stat(s.path + ".restore"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestRestoreIntoClosedStore(t *testing.T) {
	src := mustOpen(t, true)
	s := mustOpen(t, true)
	s.Close()
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(snap); !errors.Is(err, ErrClosed) {
		t.Fatalf("restore into a closed store: %v", err)
	}
	if _, err := s.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("snapshot of a closed store: %v", err)
	}
	if r := s.ApplyBatch([]uint64{1}, [][]byte{{1}})[0].(Result); !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("apply to a closed store: %+v", r)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestReadsDuringRestore: queries running while the file is swapped wait
// for the new one; none fails or sees a closed database.
func TestReadsDuringRestore(t *testing.T) {
	v := mustVault(t)
	idx, cmds := randomLog(t, v, 6, 200)
	src := mustOpen(t, true)
	src.ApplyBatch(idx, cmds)
	s := mustOpen(t, true)
	s.ApplyBatch(idx[:100], cmds[:100])

	stop := make(chan struct{})
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				if _, _, err := s.Get(idOf(1)); err != nil {
					errs <- err
					return
				}
				if _, _, err := s.List(Query{Limit: 5}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 5 {
		snap, err := src.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Restore(snap); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("read during restore: %v", err)
		}
	}
	if !bytes.Equal(mustHash(t, s), mustHash(t, src)) {
		t.Fatal("state after restores differs")
	}
}
