package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Snapshot returns the whole state as of this call, as a bbolt file stream.
// The read transaction begins inside the call, so the snapshot is exactly
// the state Raft asked for even though the bytes are read later, while
// ApplyBatch goes on. The caller must read it to the end or Close it: the
// transaction stays open until then, and Close (of the store) waits for it.
func (s *Store) Snapshot() (io.ReadCloser, error) {
	if err := s.failure(); err != nil {
		// The file lacks entries Raft counts as applied: a snapshot of it
		// would be labelled with an index it does not contain.
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, fmt.Errorf("store: snapshot: %w", ErrClosed)
	}
	if err := s.flush(); err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := tx.WriteTo(pw)
		_ = tx.Rollback() // read-only: rollback only releases it
		pw.CloseWithError(err)
	}()
	return &snapshotReader{PipeReader: pr, done: done}, nil
}

// snapshotReader ends the read transaction on Close, also when the reader
// stopped early: closing the pipe fails the pending write, WriteTo returns,
// and Close waits for the rollback.
type snapshotReader struct {
	*io.PipeReader
	done chan struct{}
}

func (r *snapshotReader) Close() error {
	err := r.PipeReader.Close()
	<-r.done
	return err
}

// Restore replaces the whole state with a snapshot stream. The stream goes
// to a temporary file beside the current one first (queries and the old
// state stay available meanwhile), is synced and checked, and is then
// renamed over the current file: a crash leaves either the old state or the
// new one, never a mix.
func (s *Store) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := s.path + ".restore"
	if err := s.stage(tmp, rc); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: restore %s: %w", s.path, err)
	}
	if err := s.swap(tmp); err != nil {
		return fmt.Errorf("store: restore %s: %w", s.path, err)
	}
	s.log.Info("state restored from snapshot", logKeyPath, s.path, logKeyIndex, s.AppliedIndex())
	return nil
}

// stage writes the stream to path, syncs it, checks it is a state file and
// prepares it as Open would (schema buckets, the card key counts of a file
// from before them, the key state), so that nothing can make the reopen
// after the swap fail on its content: the swap has replaced the old state
// by then.
func (s *Store) stage(path string, r io.Reader) error {
	if err := writeFileSync(path, r); err != nil {
		return err
	}
	if _, err := checkStateFile(path); err != nil {
		return err
	}
	return prepareStateFile(path)
}

// prepareStateFile runs on the candidate at path what Open runs on a state
// file, in a writable transaction of its own.
func prepareStateFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return fmt.Errorf("snapshot is not a state file: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := initSchema(tx); err != nil {
			return err
		}
		_, err := decodeKeyState(tx.Bucket(bucketCardKeys).Get(metaKeyState))
		return err
	})
	if err != nil {
		err = fmt.Errorf("snapshot does not open as a state: %w", err)
	}
	return errors.Join(err, db.Close())
}

// swap closes the current file, renames path over it and opens the result.
// Readers wait on the write lock, so none sees a closed file.
func (s *Store) swap(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		os.Remove(path)
		return ErrClosed
	}
	if s.db != nil {
		// The snapshot replaces whatever deferred commits left open.
		s.wmu.Lock()
		s.rollbackPending()
		s.wmu.Unlock()
		err := s.db.Close()
		s.db = nil
		if err != nil {
			return fmt.Errorf("close current: %w", err)
		}
	}
	if err := os.Rename(path, s.path); err != nil {
		os.Remove(path)
		return errors.Join(err, s.reopen())
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return errors.Join(err, s.reopen())
	}
	if err := s.reopen(); err != nil {
		return err
	}
	// The state is now the snapshot's, consistent with the log after it.
	s.failed.Store(nil)
	return nil
}

// reopen opens s.path into s.db; s.mu must be held for writing.
func (s *Store) reopen() error {
	db, err := s.openDB(false)
	if err != nil {
		return err
	}
	s.db = db
	return nil
}

func writeFileSync(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// checkStateFile opens a candidate state file read-only and checks that it
// is a bbolt file of this schema that reads whole. bbolt trusts its pages:
// a truncated file faults (SIGBUS, which kills the process), a corrupt
// page panics or loops, at the reopen after the swap in bbolt's own
// goroutines, where nothing can recover. So the page graph is checked
// first (checkPages), then every key of every bucket is read here, where
// a fault or panic is turned into an error and the old state stays.
// It returns the applied index the file records.
func checkStateFile(path string) (applied uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkPages(f, fi.Size())
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return 0, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("snapshot is not a state file: %w", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("snapshot truncated: its pages end at byte %d, the file has %d", tx.Size(), fi.Size())
		}
		if err := readAll(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("snapshot has no %s bucket", bucketMeta)
		}
		if v := meta.Get(metaSchema); !knownSchema(string(v)) {
			return fmt.Errorf("snapshot schema version %q, want %q or %q", v, schemaVersion, schemaLean)
		}
		applied = readApplied(meta)
		return nil
	})
	return applied, errors.Join(err, db.Close())
}

// readAll reads every key of every bucket of tx, turning a memory fault or
// a bbolt panic on a corrupt page into an error.
func readAll(tx *bolt.Tx) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("snapshot is corrupt: %v", r)
		}
	}()
	return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return readBucket(string(name), b) })
}

// readBucket reads b and its nested buckets, checking keys are in order
// (bbolt's search relies on it).
func readBucket(name string, b *bolt.Bucket) error {
	var prev []byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if prev != nil && bytes.Compare(k, prev) <= 0 {
			return fmt.Errorf("snapshot is corrupt: bucket %s: keys out of order at %x", name, k)
		}
		prev = k
		if v != nil {
			continue
		}
		nested := b.Bucket(k)
		if nested == nil {
			return fmt.Errorf("snapshot is corrupt: bucket %s: key %x has no value", name, k)
		}
		if err := readBucket(name+"/"+string(k), nested); err != nil {
			return err
		}
	}
	return nil
}
