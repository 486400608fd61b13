package store

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configure a Store.
type Options struct {
	Logger *slog.Logger // nil: discard
	// NoSync turns off fsync. Tests only: after a crash the file may lack
	// entries that Raft believes applied, or be corrupt.
	NoSync bool
}

// Log keys.
const (
	logKeyPath  = "path"
	logKeyID    = "id"
	logKeyIndex = "index"
	logKeyErr   = "err"
)

// initialMmapSize is mapped up front. bbolt remaps when the file outgrows
// its mapping, and a remap waits for every open read transaction, so a
// Snapshot still being streamed would stall ApplyBatch. Mapping 1 GiB
// costs address space only (the file still grows as data is written) and
// keeps that stall away until the file passes 1 GiB.
const initialMmapSize = 1 << 30

// Store is tillgate's state machine on one bbolt file. It is safe for
// concurrent use: ApplyBatch from Raft's FSM goroutine, queries from anywhere.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	// mu guards the db pointer, not the data (bbolt does that): Restore and
	// Close swap or clear it under the write lock, everything else holds
	// the read lock, so nobody ever uses a closed *bolt.DB.
	mu     sync.RWMutex
	db     *bolt.DB // nil when closed, or when a Restore could not reopen the file
	closed bool     // Close was called

	applied atomic.Uint64         // mirrors meta applied_index after each commit
	failed  atomic.Pointer[error] // set when a batch could not be committed; see ErrFailed
}

// Open opens (or creates) the state file at path. A second Open of the same
// file, from this process or another, fails after one second.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{path: path, opts: opts, log: opts.Logger}
	db, err := s.openDB()
	if err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

// openDB opens the file, creates missing buckets, checks the schema version
// and loads the applied index.
func (s *Store) openDB() (*bolt.DB, error) {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout:         time.Second, // a second opener fails clearly instead of hanging
		NoSync:          s.opts.NoSync,
		InitialMmapSize: initialMmapSize,
		FreelistType:    bolt.FreelistMapType, // O(1) page allocation on a large file
		// The freelist is rebuilt by scanning on open instead of being
		// written on every commit: one page less per ApplyBatch, the hot
		// path, at the cost of a slower open (rare) of a large file.
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	var applied uint64
	err = db.Update(func(tx *bolt.Tx) error {
		var err error
		applied, err = initSchema(tx)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	s.applied.Store(applied)
	return db, nil
}

// initSchema creates the buckets and returns the applied index.
func initSchema(tx *bolt.Tx) (uint64, error) {
	for _, b := range allBuckets() {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return 0, fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch v := meta.Get(metaSchema); {
	case v == nil:
		if err := meta.Put(metaSchema, []byte(schemaVersion)); err != nil {
			return 0, err
		}
	case string(v) == "1":
		// Version 2 only added the (now created, empty) SAF and stand-in
		// buckets: a version 1 file upgrades in place.
		if err := meta.Put(metaSchema, []byte(schemaVersion)); err != nil {
			return 0, err
		}
	case string(v) != schemaVersion:
		return 0, fmt.Errorf("schema version %q, this binary knows %q", v, schemaVersion)
	}
	return readApplied(meta), nil
}

func readApplied(meta *bolt.Bucket) uint64 {
	if v := meta.Get(metaApplied); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Close closes the file. It waits for open read transactions, including a
// Snapshot whose reader has not been read to the end or closed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
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

// AppliedIndex is the Raft index of the last applied entry, as committed.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// view runs fn in a read transaction on the current file.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.View(fn)
}

// failure is the error that stopped the store, or nil.
func (s *Store) failure() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Store) fail(err error) {
	err = fmt.Errorf("%w: %w", ErrFailed, err)
	s.failed.CompareAndSwap(nil, &err)
	s.log.Error("state machine stopped: restart the node to replay the log", logKeyPath, s.path, logKeyErr, err)
}
