package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/hashicorp/raft"
)

// logStore is raft's LogStore: entries appended to segment files in
// Dir/log/, one write and one fdatasync per StoreLogs. See DESIGN.md ("Log
// store") for the format and the recovery rules.
//
// Locks: wmu serialises the writers (StoreLogs, DeleteRange, Close; raft
// calls them from its main goroutine) and is held across the disk I/O; mu
// guards the in-memory index and is held only to publish a change, so
// GetLog from the replication goroutines never waits for an fsync.
type logStore struct {
	dir  string
	opts logStoreOptions

	wmu   sync.Mutex
	err   error  // sticky: after a failed write nothing more is written
	buf   []byte // encode buffer, reused
	tail  *segment
	floor uint64 // durable: no entry below it exists (logstore_delete.go)

	mu          sync.RWMutex
	segs        []*segment // ascending by first; each holds entries
	first, last uint64     // 0, 0 when empty
}

// segment is one file: entries first..first+len(offs)-1 (in an old segment
// some of them may lie below the store's first index, already deleted).
type segment struct {
	first uint64
	path  string
	f     *os.File
	offs  []int64 // offs[i]: offset of entry first+i
	size  int64   // bytes of whole records
}

type logStoreOptions struct {
	// OnFail is called once, from the failing writer, when the store turns
	// fail-stop. It must not block (raft's main goroutine is the writer).
	OnFail      func(error)
	SegmentSize int64                        // roll to a new file past this size
	Logger      *slog.Logger                 // nil: discard
	sync        func(*os.File) error         // tests inject failures; nil: fdatasync
	write       func(*segment, []byte) error // tests inject failures; nil: pwrite
}

const (
	defaultSegmentSize = 64 << 20
	maxKeptBuffer      = 8 << 20 // a larger encode buffer is dropped after use
	segmentExt         = ".seg"
)

var (
	// errLogStoreFailed: an earlier write or fsync failed; the files' state
	// is unknown, so the store refuses every later write (fail-stop).
	errLogStoreFailed = errors.New("log store failed earlier: restart the node")
	// errNotContiguous: StoreLogs got entries that do not follow the last.
	errNotContiguous = errors.New("entries not contiguous with the log")
)

// openLogStore opens or creates the store in dir, checking every record
// (logstore_recover.go).
func openLogStore(dir string, opts logStoreOptions) (*logStore, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = defaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.sync == nil {
		opts.sync = fdatasync
	}
	if opts.write == nil {
		opts.write = pwrite
	}
	s := &logStore{dir: dir, opts: opts}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("cluster: log store %s: %w", dir, err)
	}
	return s, nil
}

// IsMonotonic tells raft that the log has no gaps: after installing a
// snapshot raft deletes the whole log instead of leaving a gap before the
// entries that follow the snapshot (which StoreLogs would refuse).
func (s *logStore) IsMonotonic() bool { return true }

func (s *logStore) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.first, nil
}

func (s *logStore) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last, nil
}

// GetLog reads one entry with pread. The read lock is held across the
// read so that DeleteRange cannot close the file underneath it.
func (s *logStore) GetLog(index uint64, l *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.last == 0 || index < s.first || index > s.last {
		return raft.ErrLogNotFound
	}
	seg := s.segs[sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > index })-1]
	i := index - seg.first
	off, end := seg.offs[i], seg.size
	if i+1 < uint64(len(seg.offs)) {
		end = seg.offs[i+1]
	}
	rec := make([]byte, end-off)
	if _, err := seg.f.ReadAt(rec, off); err != nil {
		return fmt.Errorf("cluster: log store: read entry %d from %s at %d: %w", index, seg.path, off, err)
	}
	if err := decodeRecord(rec, l); err != nil {
		return fmt.Errorf("cluster: log store: entry %d in %s at %d: %w", index, seg.path, off, err)
	}
	if l.Index != index {
		return fmt.Errorf("cluster: log store: %s at %d holds entry %d, want %d", seg.path, off, l.Index, index)
	}
	return nil
}

func (s *logStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs appends the batch with one write and one fdatasync; it returns
// only when the batch is durable.
func (s *logStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return s.err
	}
	if err := s.checkContiguous(logs); err != nil {
		return fmt.Errorf("cluster: log store: %w", err)
	}
	offs, err := s.encode(logs)
	if err != nil {
		return fmt.Errorf("cluster: log store: %w", err)
	}
	if err := s.append(logs[0].Index, offs); err != nil {
		return s.fail(err)
	}
	return nil
}

// checkContiguous accepts a batch that follows the last entry, or any
// first index on an empty store (after a snapshot the log restarts later).
func (s *logStore) checkContiguous(logs []*raft.Log) error {
	next := logs[0].Index
	if s.last != 0 && next != s.last+1 {
		return fmt.Errorf("%w: got %d after %d", errNotContiguous, next, s.last)
	}
	if next == 0 {
		return fmt.Errorf("%w: index 0", errNotContiguous)
	}
	for i, l := range logs {
		if l.Index != next+uint64(i) {
			return fmt.Errorf("%w: batch has %d at position %d after %d", errNotContiguous, l.Index, i, next)
		}
	}
	return nil
}

// encode fills s.buf with the batch and returns each record's offset in it.
func (s *logStore) encode(logs []*raft.Log) ([]int64, error) {
	buf := s.buf[:0]
	offs := make([]int64, len(logs))
	for i, l := range logs {
		offs[i] = int64(len(buf))
		var err error
		if buf, err = appendRecord(buf, l); err != nil {
			return nil, err
		}
	}
	s.buf = buf
	return offs, nil
}

// append writes s.buf (entries from first on, at offsets offs within it)
// to the tail segment, rolling to a new one first if the tail is full.
func (s *logStore) append(first uint64, offs []int64) error {
	defer s.trimBuffer()
	if s.last == 0 {
		if err := s.lowerFloor(first); err != nil {
			return err
		}
	}
	seg := s.tail
	if seg == nil || seg.size+int64(len(s.buf)) > s.opts.SegmentSize {
		var err error
		if seg, err = s.createSegment(first); err != nil {
			return err
		}
	}
	if err := s.writeSync(seg); err != nil {
		if seg != s.tail {
			seg.f.Close()
		}
		return err
	}
	s.publish(seg, first, offs)
	return nil
}

func (s *logStore) writeSync(seg *segment) error {
	if err := s.opts.write(seg, s.buf); err != nil {
		return fmt.Errorf("write %s at %d: %w", seg.path, seg.size, err)
	}
	if err := s.opts.sync(seg.f); err != nil {
		return fmt.Errorf("fdatasync %s: %w", seg.path, err)
	}
	return nil
}

// publish makes a durable batch visible to readers.
func (s *logStore) publish(seg *segment, first uint64, offs []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seg != s.tail {
		s.segs = append(s.segs, seg)
		s.tail = seg
	}
	for _, o := range offs {
		seg.offs = append(seg.offs, seg.size+o)
	}
	seg.size += int64(len(s.buf))
	if s.last == 0 {
		s.first = first
	}
	s.last = first + uint64(len(offs)) - 1
}

func (s *logStore) trimBuffer() {
	if cap(s.buf) > maxKeptBuffer {
		s.buf = nil
	}
}

// createSegment creates the file for a segment starting at first and makes
// its name durable. O_EXCL: a leftover file by that name is a bug, not
// something to overwrite.
func (s *logStore) createSegment(first uint64) (*segment, error) {
	path := filepath.Join(s.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{first: first, path: path, f: f}, nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentExt) }

// fail records err as the sticky error and returns it.
func (s *logStore) fail(err error) error {
	s.err = fmt.Errorf("cluster: log store: %w: %w", errLogStoreFailed, err)
	s.opts.Logger.Error("log store failed: refusing further writes", "error", err)
	if s.opts.OnFail != nil {
		s.opts.OnFail(s.err)
	}
	return s.err
}

// Close closes the files. Raft must be shut down first.
func (s *logStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err == nil {
		s.err = fmt.Errorf("cluster: log store: closed")
	}
	return s.closeFiles()
}

func (s *logStore) closeFiles() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, seg := range s.segs {
		errs = append(errs, seg.f.Close())
	}
	s.segs, s.tail, s.first, s.last = nil, nil, 0, 0
	return errors.Join(errs...)
}

func pwrite(seg *segment, b []byte) error {
	_, err := seg.f.WriteAt(b, seg.size)
	return err
}

// fdatasync flushes the data and the size, not the mtime: one flush where
// File.Sync (fsync) may need two.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// syncDir makes file creations, renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
