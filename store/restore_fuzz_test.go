package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRestore feeds Restore arbitrary bytes as a snapshot stream, seeded
// with a real snapshot and cuts of it. Restore must refuse what is not a
// sound state file with an error and keep the state it had (same hash,
// same applied index, no temporary file left); what it accepts must be a
// store that reads whole (Hash walks every bucket), snapshots again, and
// records the applied index it reports.
//
//	go test ./store -run '^$' -fuzz FuzzRestore -fuzztime 60s
func FuzzRestore(f *testing.F) {
	v := mustVault(f)
	idx, cmds := randomLog(f, v, 5, 20)
	src := mustOpen(f, true)
	src.ApplyBatch(idx, cmds)
	seed := snapshotBytes(f, src)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(seed[:4096])
	f.Add([]byte("not a state file"))
	f.Add([]byte(nil))
	empty := snapshotBytes(f, mustOpen(f, true))
	f.Add(empty)

	// One store per worker; every input starts from the seed state so a
	// failing input reproduces alone.
	dst := mustOpenPath(f, filepath.Join(fuzzDir(f), "state.db"), true)
	f.Fuzz(func(t *testing.T, in []byte) {
		if err := dst.Restore(io.NopCloser(bytes.NewReader(seed))); err != nil {
			t.Fatalf("restore of the seed snapshot: %v", err)
		}
		before, applied := mustHash(t, dst), dst.AppliedIndex()
		err := dst.Restore(io.NopCloser(bytes.NewReader(in)))
		if _, serr := os.Stat(dst.path + ".restore"); !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("temporary file left behind (restore err %v): %v", err, serr)
		}
		if err != nil {
			if got := mustHash(t, dst); !bytes.Equal(got, before) || dst.AppliedIndex() != applied {
				t.Fatalf("refused restore (%v) changed the state", err)
			}
			return
		}
		if _, err := dst.Hash(); err != nil {
			t.Fatalf("accepted snapshot does not read whole: %v", err)
		}
		// The store holds its file locked: check the index on a snapshot.
		again := filepath.Join(fuzzDir(t), "again.db")
		if err := os.WriteFile(again, snapshotBytes(t, dst), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := AppliedIndexOf(again); err != nil || got != dst.AppliedIndex() {
			t.Fatalf("applied index %d in a snapshot (%v), store says %d", got, err, dst.AppliedIndex())
		}
	})
}

func snapshotBytes(tb testing.TB, s *Store) []byte {
	tb.Helper()
	rc, err := s.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzAppliedIndexOf: reading a backup's applied index (tillgate restore)
// never crashes on arbitrary bytes; an error wraps ErrCorrupt.
func FuzzAppliedIndexOf(f *testing.F) {
	v := mustVault(f)
	idx, cmds := randomLog(f, v, 6, 20)
	src := mustOpen(f, true)
	src.ApplyBatch(idx, cmds)
	seed := snapshotBytes(f, src)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("not a state file"))
	path := filepath.Join(fuzzDir(f), "backup.db")
	f.Fuzz(func(t *testing.T, in []byte) {
		if err := os.WriteFile(path, in, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := AppliedIndexOf(path); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

// fuzzDir is a temporary directory in memory when /dev/shm is there:
// Restore syncs, and on a disk shared with other work each fsync (and the
// writeback a rewritten file triggers) stalls a fuzz worker for seconds,
// so a minute's run reached a few dozen executions.
func fuzzDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "tillgate-fuzz-")
	if err != nil {
		return tb.TempDir()
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
