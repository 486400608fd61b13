package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Options configure a Store.
type Options struct {
	Logger *slog.Logger // nil: discard
	// NoSync skips the fsync of every commit, and with it two disk flushes
	// per Raft batch on the path of every answer, and defers commits
	// (deferred.go). The node runs this way:
	// Raft's log, flushed on a quorum before anything is applied, is the
	// durable copy, and the file is rebuilt from it after a crash. A crash
	// can leave an unsynced bbolt file torn (a commit may reuse pages that
	// the last durable one still points to), so Open discards a file that
	// was not closed cleanly (see cleanSuffix); Raft then restores its
	// latest snapshot and replays the log after it.
	NoSync bool
	// CommitHook, if set, runs inside every batch's write transaction before
	// bbolt commits it; an error fails the commit as a disk error would
	// (the store then stops: ErrFailed). Fault tests only.
	CommitHook func() error
}

// cleanSuffix names the marker that Close writes beside a NoSync file once
// it is synced and closed, and Open removes before the first commit. A file
// without it was in use when its process died.
const cleanSuffix = ".clean"

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

	// The write transaction ApplyBatch applies in, kept open across
	// batches by deferred commits (deferred.go); wmu guards it.
	wmu        sync.Mutex
	wtx        *bolt.Tx
	wtxBase    uint64      // the applied index the file holds below wtx
	wtxEntries int         // entries applied in wtx
	timer      *time.Timer // commits wtx within deferDelay
	pending    atomic.Bool // wtx is open between batches: readers commit it first
	hints      idHints     // see hints.go; guarded by wmu

	applied atomic.Uint64            // mirrors meta applied_index after each batch
	keys    atomic.Pointer[KeyState] // mirrors the card keys' state after each commit that changed it
	failed  atomic.Pointer[error]    // set when a batch could not be committed; see ErrFailed
	stopped chan struct{}            // closed when failed is set
}

// Open opens (or creates) the state file at path. A second Open of the same
// file, from this process or another, fails after one second.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{path: path, opts: opts, log: opts.Logger, stopped: make(chan struct{})}
	db, err := s.openDB(opts.NoSync)
	if err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

// openBolt opens the bbolt file. With discardUnclean, a file that has no
// clean marker is discarded first, and the marker is removed before
// anything is written: from then on a crash shows at the next Open.
func (s *Store) openBolt(discardUnclean bool) (*bolt.DB, error) {
	if discardUnclean {
		if err := s.discardUnclean(); err != nil {
			return nil, err
		}
	}
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
	if err == nil && discardUnclean {
		err = removeSynced(s.path + cleanSuffix)
	}
	return db, err
}

// discardUnclean removes the state file if it exists without its clean
// marker. It decides before the writable open, which walks every page to
// rebuild the freelist and panics on a torn file; the read-only open it
// takes first reads only the meta pages, and its shared lock times out
// while another process runs the store, whose file (unmarked while in use)
// must then stay.
func (s *Store) discardUnclean() error {
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(s.path + cleanSuffix); err == nil {
		return nil
	}
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return err
	}
	if db != nil {
		db.Close()
	}
	s.log.Warn("state file was not closed cleanly and may be torn: discarding it; Raft rebuilds it from its snapshot and log", logKeyPath, s.path, logKeyErr, err)
	return removeSynced(s.path)
}

// removeSynced removes path if it exists and makes the removal durable.
func removeSynced(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}

// openDB opens the file (see openBolt), creates missing buckets, checks the
// schema version and loads the applied index.
func (s *Store) openDB(discardUnclean bool) (*bolt.DB, error) {
	db, err := s.openBolt(discardUnclean)
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
	if err := s.loadKeyState(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	return db, nil
}

// initSchema creates the buckets and returns the applied index.
func initSchema(tx *bolt.Tx) (uint64, error) {
	countSealed := tx.Bucket(bucketCardKeyRecords) == nil && tx.Bucket(bucketTxns) != nil
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
	case !knownSchema(string(v)):
		return 0, fmt.Errorf("schema version %q, this binary knows %q and %q (files of another version are not converted)", v, schemaVersion, schemaLean)
	}
	if countSealed {
		if err := countAllSealed(tx); err != nil {
			return 0, fmt.Errorf("card key records: %w", err)
		}
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
	var err error
	s.wmu.Lock()
	if s.failure() == nil {
		err = s.commitPending()
	} else {
		s.rollbackPending()
	}
	s.wmu.Unlock()
	if err == nil && s.opts.NoSync && s.failure() == nil {
		err = s.db.Sync()
	}
	err = errors.Join(err, s.db.Close())
	s.db = nil
	if err == nil && s.opts.NoSync && s.failure() == nil {
		err = writeClean(s.path + cleanSuffix)
	}
	if err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

// writeClean creates the clean marker durably.
func writeClean(path string) error {
	if err := writeFileSync(path, strings.NewReader("closed cleanly\n")); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// AppliedIndex is the Raft index of the last applied entry: every read
// sees it (deferred commits are committed before a read).
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// view runs fn in a read transaction on the current file, after committing
// whatever deferred commits left open.
func (s *Store) view(fn func(tx *bolt.Tx) error) error { return s.read(fn, true) }

// read runs fn in a read transaction, after committing deferred batches if
// flush.
func (s *Store) read(fn func(tx *bolt.Tx) error, flush bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	if flush {
		if err := s.flush(); err != nil {
			return err
		}
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
	if s.failed.CompareAndSwap(nil, &err) {
		close(s.stopped)
	}
	s.log.Error("state machine stopped: restart the node to replay the log", logKeyPath, s.path, logKeyErr, err)
}

// Stopped is closed once the store has stopped applying after a storage
// failure (ErrFailed); Failure then says why. Whatever its role, the node
// must stop: a follower would otherwise go on voting and taking entries
// it no longer applies, and could be elected with a state that lags its
// log.
func (s *Store) Stopped() <-chan struct{} { return s.stopped }

// Failure is the storage failure that stopped the store, or nil.
func (s *Store) Failure() error { return s.failure() }

// viewCommitted runs fn in a read transaction on what the file has
// committed, without committing deferred batches first (see deferred.go
// for who may).
func (s *Store) viewCommitted(fn func(tx *bolt.Tx) error) error { return s.read(fn, false) }
