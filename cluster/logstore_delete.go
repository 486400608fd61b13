package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
)

// The floor file holds an index below which no entry exists, whatever
// segment files are still on disk. Head compaction and deleting the whole
// log write it before removing files, so a crash halfway through (or a
// failed remove) never brings deleted entries back on the next Open: a
// resurrected old segment after a delete-all would sit before a gap.
const (
	floorFile = "first-index"
	floorSize = 8 + 4 // u64 index + CRC-32C
)

// DeleteRange deletes min..max inclusive. Raft deletes either the head (min
// = FirstIndex, compaction after a snapshot), the tail (max = LastIndex, a
// conflict on a follower) or everything (after installing a snapshot).
func (s *logStore) DeleteRange(min, max uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return s.err
	}
	first, last := s.first, s.last // changed only under wmu
	var err error
	switch {
	case last == 0 || min > max || max < first || min > last:
		return nil
	case min <= first && max >= last:
		err = s.deleteAll()
	case min <= first:
		return s.deleteHead(max)
	case max >= last:
		err = s.deleteTail(min)
	default:
		return fmt.Errorf("cluster: log store: cannot delete %d-%d from the middle of %d-%d", min, max, first, last)
	}
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// deleteHead drops entries up to max (< last): whole segments are removed,
// the rest of a straddling segment stays on disk below the floor.
func (s *logStore) deleteHead(max uint64) error {
	if err := s.writeFloor(max + 1); err != nil {
		return s.fail(err)
	}
	s.mu.Lock()
	k := 0
	for k < len(s.segs)-1 && s.segs[k+1].first <= max+1 {
		k++
	}
	gone := s.segs[:k:k]
	s.segs = s.segs[k:]
	s.first = max + 1
	s.mu.Unlock()
	if err := removeSegments(gone); err != nil {
		// Fatal although the floor hides them: a file left behind could
		// collide with a segment created after a later delete-all.
		return s.fail(err)
	}
	return nil
}

// deleteTail drops entries from min (> first) on. Later segments go first,
// newest first, then the straddling one is truncated: a crash at any point
// leaves a contiguous prefix of the log.
func (s *logStore) deleteTail(min uint64) error {
	s.mu.Lock()
	k := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > min }) - 1
	seg, i := s.segs[k], min-s.segs[k].first
	gone := append([]*segment(nil), s.segs[k+1:]...)
	if i == 0 { // min starts seg (k > 0, since min > first)
		gone = append([]*segment{seg}, gone...)
		s.segs, s.tail = s.segs[:k], s.segs[k-1]
	} else {
		s.segs, s.tail = s.segs[:k+1], seg
		seg.size, seg.offs = seg.offs[i], seg.offs[:i]
	}
	s.last = min - 1
	s.mu.Unlock()
	for j := len(gone) - 1; j >= 0; j-- {
		if err := removeSegments(gone[j : j+1]); err != nil {
			return err
		}
	}
	if i == 0 {
		return nil
	}
	if err := seg.f.Truncate(seg.size); err != nil {
		return fmt.Errorf("truncate %s at %d: %w", seg.path, seg.size, err)
	}
	if err := s.opts.sync(seg.f); err != nil {
		return fmt.Errorf("fdatasync %s: %w", seg.path, err)
	}
	return nil
}

// deleteAll empties the store; the next StoreLogs may start at any index.
func (s *logStore) deleteAll() error {
	if err := s.writeFloor(s.last + 1); err != nil {
		return err
	}
	s.mu.Lock()
	gone := s.segs
	s.segs, s.tail, s.first, s.last = nil, nil, 0, 0
	s.mu.Unlock()
	return removeSegments(gone)
}

// lowerFloor runs before the first append to an empty store: raft may
// restart the log below the old floor (a snapshot older than the entries
// it replaced), and the floor would hide the new entries on Open.
func (s *logStore) lowerFloor(first uint64) error {
	if s.floor <= first {
		return nil
	}
	return s.writeFloor(first)
}

// removeSegments closes and removes the files, then syncs the directory so
// that the removal is durable before anything is written after it.
func removeSegments(segs []*segment) error {
	if len(segs) == 0 {
		return nil
	}
	var errs []error
	for _, seg := range segs {
		errs = append(errs, seg.f.Close(), os.Remove(seg.path))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove segments: %w", err)
	}
	return syncDir(filepath.Dir(segs[0].path))
}

// writeFloor replaces the floor file atomically and durably.
func (s *logStore) writeFloor(floor uint64) error {
	b := binary.LittleEndian.AppendUint64(nil, floor)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
	tmp := filepath.Join(s.dir, floorFile+".tmp")
	if err := writeFileSync(tmp, b, s.opts.sync); err != nil {
		return fmt.Errorf("write floor: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, floorFile)); err != nil {
		return fmt.Errorf("write floor: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("write floor: %w", err)
	}
	s.floor = floor
	return nil
}

func writeFileSync(path string, b []byte, sync func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = sync(f)
	}
	return errors.Join(err, f.Close())
}

// readFloor returns the floor, 0 without a floor file.
func readFloor(dir string) (uint64, error) {
	path := filepath.Join(dir, floorFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != floorSize || crc32.Checksum(b[:8], crcTable) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, fmt.Errorf("%s is corrupt (%d bytes, bad CRC or size)", path, len(b))
	}
	return binary.LittleEndian.Uint64(b), nil
}
