package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configure a Store.
type Options struct {
	Logger *slog.Logger
	// NoSync turns off fsync. Tests only: a crash then loses applied state
	// that Raft believes durable.
	NoSync bool
}

// Store is the bbolt-backed state machine.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	// mu guards db: Restore swaps the file under the write lock, everything
	// else holds the read lock.
	mu sync.RWMutex
	db *bolt.DB

	applied uint64 // guarded by mu; mirrors meta applied_index
}

// Open opens (or creates) the state file at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Store{path: path, opts: opts, log: opts.Logger}
	if err := s.openDB(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) openDB() error {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout:      time.Second, // a second opener fails instead of hanging
		NoSync:       s.opts.NoSync,
		FreelistType: bolt.FreelistMapType,
		// The freelist is rebuilt on open instead of written on every
		// commit: one page less per Apply batch.
		NoFreelistSync: true,
		// Growing the map waits for every read transaction, snapshots
		// included: reserve address space so that Apply rarely has to.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(metaSchema); v != nil && string(v) != schemaVersion {
			return fmt.Errorf("schema version %s, this binary knows %s", v, schemaVersion)
		}
		if err := meta.Put(metaSchema, []byte(schemaVersion)); err != nil {
			return err
		}
		s.applied = readApplied(meta)
		return nil
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	s.db = db
	return nil
}

func readApplied(meta *bolt.Bucket) uint64 {
	if v := meta.Get(metaApplied); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Close closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

// AppliedIndex is the Raft index of the last applied entry.
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// ApplyBatch applies committed entries in one bbolt transaction that also
// records the highest index. Entries at or below the recorded index were
// applied before a restart and are skipped (nil result). A nil command only
// advances the index (a Raft configuration entry).
//
// A failing bbolt commit (disk full, I/O error) panics: Raft has already
// counted these entries as applied, so carrying on would silently diverge
// from the other replicas. The process stops and replays the log on restart.
func (s *Store) ApplyBatch(indexes []uint64, cmds [][]byte) []any {
	results := make([]any, len(cmds))
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		a := applier{tx: tx, s: s}
		last := s.applied
		for i, cmd := range cmds {
			if indexes[i] <= s.applied {
				continue
			}
			last = max(last, indexes[i])
			if cmd == nil {
				continue
			}
			results[i] = a.apply(cmd)
		}
		if last == s.applied {
			return nil
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], last)
		if err := tx.Bucket(bucketMeta).Put(metaApplied, v[:]); err != nil {
			return err
		}
		s.applied = last
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("store: apply batch up to index %d to %s: %v", indexes[len(indexes)-1], s.path, err))
	}
	return results
}
