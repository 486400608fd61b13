package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Snapshot returns the whole state as of now. The read transaction begins
// inside the call, so the snapshot is exactly the state Raft asked for even
// though the bytes are streamed later; Close ends it, also when the reader
// stops early.
func (s *Store) Snapshot() (io.ReadCloser, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, fmt.Errorf("store: snapshot: %s is closed", s.path)
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := tx.WriteTo(pw)
		_ = tx.Rollback()
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// Restore replaces the whole state with a snapshot stream: written to a
// temporary file beside the current one, synced, checked, then renamed over
// it, so a crash leaves either the old or the new state.
func (s *Store) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := s.path + ".restore"
	if err := writeFileSync(tmp, rc); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := checkStateFile(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			return fmt.Errorf("store: restore: close current: %w", err)
		}
		s.db = nil
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return s.openDB()
}

func writeFileSync(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkStateFile opens a candidate state file and checks it is ours.
func checkStateFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("snapshot is not a bbolt file: %w", err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("snapshot has no %s bucket", bucketMeta)
		}
		if v := meta.Get(metaSchema); string(v) != schemaVersion {
			return fmt.Errorf("snapshot schema version %q, want %s", v, schemaVersion)
		}
		return nil
	})
}
