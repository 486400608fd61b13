package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/raft"
)

// errLogCorrupt: Open found damage that a crash during a write cannot
// explain; the node must not start (FAULTS.md scenario 13: rebuild it from
// its peers with an empty data dir).
var errLogCorrupt = errors.New("log corrupt: refusing to start; rebuild this node from its peers (start it with an empty data dir)")

// recover loads the floor and the segments, checking every record.
//
// Rules: segments must be contiguous (each starts right after the previous
// one ends) and every record whole, with a good CRC and the next index.
// The one exception is the end of the last segment: a crash in the middle
// of a write leaves a partial or garbled last batch whose fdatasync never
// returned, so it was never acknowledged; it is truncated away, provided no
// good record follows the damage (then it is corruption, not a torn write).
func (s *logStore) recover() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	// The directory's own entry must be durable too, or a crash could take
	// it with every segment in it.
	if err := syncDir(filepath.Dir(s.dir)); err != nil {
		return err
	}
	floor, err := readFloor(s.dir)
	if err != nil {
		return fmt.Errorf("%w: %w", errLogCorrupt, err)
	}
	s.floor = floor
	firsts, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	firsts, err = s.removeBelowFloor(firsts)
	if err != nil {
		return err
	}
	for i, first := range firsts {
		if err := s.loadSegment(first, i == len(firsts)-1); err != nil {
			return err
		}
	}
	if s.last != 0 {
		// Entries below the floor in the first segment were deleted by a
		// head compaction.
		s.first = max(s.first, s.floor)
	}
	return nil
}

// listSegments returns the first indexes of the segment files, ascending.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir) // sorted by name: zero-padded, so by index
	if err != nil {
		return nil, err
	}
	var firsts []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || segmentName(first) != name || first == 0 {
			return nil, fmt.Errorf("%w: unexpected segment file name %s", errLogCorrupt, filepath.Join(dir, name))
		}
		firsts = append(firsts, first)
	}
	return firsts, nil
}

// removeBelowFloor removes, without reading them, the segments that the
// next one shows to lie entirely below the floor (a compaction that a
// crash interrupted).
func (s *logStore) removeBelowFloor(firsts []uint64) ([]uint64, error) {
	k := 0
	for k < len(firsts)-1 && firsts[k+1] <= s.floor {
		if err := os.Remove(filepath.Join(s.dir, segmentName(firsts[k]))); err != nil {
			return nil, err
		}
		k++
	}
	if k > 0 {
		s.opts.Logger.Info("log store: removed segments below the first index", "segments", k, "first_index", s.floor)
		return firsts[k:], syncDir(s.dir)
	}
	return firsts, nil
}

// loadSegment opens, checks and indexes one segment file.
func (s *logStore) loadSegment(first uint64, last bool) error {
	path := filepath.Join(s.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	seg := &segment{first: first, path: path, f: f}
	if err := s.scanSegment(seg, last); err != nil {
		f.Close()
		return err
	}
	if len(seg.offs) == 0 {
		return s.dropEmpty(seg, last)
	}
	if segLast := first + uint64(len(seg.offs)) - 1; segLast < s.floor {
		// Every entry was deleted (a delete-all interrupted by a crash).
		s.opts.Logger.Info("log store: removing a segment below the first index", "file", path, "first_index", s.floor)
		return removeSegments([]*segment{seg})
	}
	if s.last != 0 && first != s.last+1 {
		f.Close()
		return fmt.Errorf("%w: gap: %s starts at %d but the previous segment ends at %d", errLogCorrupt, path, first, s.last)
	}
	s.segs = append(s.segs, seg)
	s.tail = seg
	if s.first == 0 {
		s.first = first
	}
	s.last = first + uint64(len(seg.offs)) - 1
	return nil
}

// dropEmpty removes an empty last segment (created just before a crash, or
// whose only batch was torn); an empty segment elsewhere is corruption.
func (s *logStore) dropEmpty(seg *segment, last bool) error {
	seg.f.Close()
	if !last {
		return fmt.Errorf("%w: %s holds no entries but is not the last segment", errLogCorrupt, seg.path)
	}
	if err := os.Remove(seg.path); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// scanSegment reads the file and indexes its records; a torn end of the
// last segment is truncated.
func (s *logStore) scanSegment(seg *segment, last bool) error {
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return err
	}
	end, err := indexRecords(seg, data)
	if err == nil {
		return nil
	}
	var ce corruptError
	if !last || errors.As(err, &ce) {
		return fmt.Errorf("%w: %s at offset %d: %w", errLogCorrupt, seg.path, end, err)
	}
	if at, index, ok := findRecord(data, end+1, seg.first+uint64(len(seg.offs))); ok {
		return fmt.Errorf("%w: %s at offset %d: %w, yet entry %d follows at offset %d", errLogCorrupt, seg.path, end, err, index, at)
	}
	return s.truncateTorn(seg, end, int64(len(data)), err)
}

// truncateTorn cuts the last segment after its last whole record.
func (s *logStore) truncateTorn(seg *segment, end, size int64, cause error) error {
	s.opts.Logger.Warn("log store: truncating a torn write at the end of the log (never acknowledged)",
		"file", seg.path, "offset", end, "bytes", size-end, "after_index", seg.first+uint64(len(seg.offs))-1, "cause", cause)
	if err := seg.f.Truncate(end); err != nil {
		return fmt.Errorf("truncate %s at %d: %w", seg.path, end, err)
	}
	if err := s.opts.sync(seg.f); err != nil {
		return fmt.Errorf("fdatasync %s: %w", seg.path, err)
	}
	return nil
}

// corruptError: a whole record with a good CRC that is out of place. A
// torn write cannot produce one, so it is fatal even at the end.
type corruptError struct{ msg string }

func (e corruptError) Error() string { return e.msg }

// indexRecords fills seg.offs and seg.size from data. On error it returns
// the offset of the first bad record.
func indexRecords(seg *segment, data []byte) (int64, error) {
	next := seg.first
	off := 0
	for off < len(data) {
		n, err := recordLen(data[off:])
		if err != nil {
			return int64(off), err
		}
		var l raft.Log
		if err := decodeRecord(data[off:off+n], &l); err != nil {
			return int64(off), err
		}
		if l.Index != next {
			return int64(off), corruptError{fmt.Sprintf("entry %d where %d belongs", l.Index, next)}
		}
		seg.offs = append(seg.offs, int64(off))
		off += n
		seg.size = int64(off)
		next++
	}
	return int64(off), nil
}

// findRecord looks for a good record at any offset from `from` on whose
// index could belong after the damage (>= next): proof that the damage is
// not a torn end.
func findRecord(data []byte, from int64, next uint64) (int64, uint64, bool) {
	for p := from; p+recordHeader <= int64(len(data)); p++ {
		b := data[p:]
		n, err := recordLen(b)
		if err != nil || recordIndex(b) < next || recordIndex(b)-next > uint64(len(data)) {
			continue
		}
		var l raft.Log
		if decodeRecord(b[:n], &l) == nil {
			return p, l.Index, true
		}
	}
	return 0, 0, false
}
