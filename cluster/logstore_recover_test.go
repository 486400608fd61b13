package cluster

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
)

// TestLogStoreTornTail: a crash in the middle of the last write leaves a
// partial or garbled end of the last segment; Open cuts it and keeps every
// whole entry, and the log goes on after them.
func TestLogStoreTornTail(t *testing.T) {
	cases := []struct {
		name   string
		cut    int    // bytes cut from the end of the last segment
		append []byte // then appended
		last   uint64 // the last entry that survives
	}{
		{"a few bytes short", 3, nil, 29},
		{"short, then garbage", 3, bytes.Repeat([]byte{0xa5}, 200), 29},
		{"short, then zeros (extended, never written)", 10, make([]byte, 4096), 29},
		{"only the prefix of a record", 0, []byte{50, 0, 0}, 30},
		{"a whole header of zeros", 0, make([]byte, recordHeader), 30},
		{"garbage after the last record", 0, []byte("garbage"), 30},
		{"the whole last record and a bit", 1 << 20, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpenLogStore(t, dir, 1<<20)
			mustStore(t, s, 1, 30, 30) // one segment, one batch
			s.Close()
			path := filepath.Join(dir, segmentName(1))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			last := tc.last
			if tc.cut == 1<<20 { // cut into the last record's prefix
				tc.cut = len(b) - int(s.offsetOf(t, 30)) - 4
				last = 29
			}
			writeFile(t, path, append(b[:len(b)-tc.cut], tc.append...))
			s = mustOpenLogStore(t, dir, 1<<20)
			checkRange(t, s, 1, last)
			mustStore(t, s, last+1, last+3, 3)
			s.Close()
			checkRange(t, mustOpenLogStore(t, dir, 1<<20), 1, last+3)
		})
	}
}

// offsetOf returns where entry i starts, from a store reopened on the side.
func (s *logStore) offsetOf(t testing.TB, i uint64) int64 {
	t.Helper()
	o := mustOpenLogStore(t, s.dir, s.opts.SegmentSize)
	defer o.Close()
	for _, seg := range o.segs {
		if i >= seg.first && i < seg.first+uint64(len(seg.offs)) {
			return seg.offs[i-seg.first]
		}
	}
	t.Fatalf("no entry %d", i)
	return 0
}

// TestLogStoreCorruptionFailsOpen: damage that a torn write cannot explain
// refuses to start, naming the file and the offset.
func TestLogStoreCorruptionFailsOpen(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(t *testing.T, dir string, segs []string)
		wantMsg string // in the error besides the file
	}{
		{"bit flip in the middle of the last segment", func(t *testing.T, dir string, segs []string) {
			flipByte(t, segs[len(segs)-1], 0.5)
		}, "offset"},
		{"bit flip in an older segment", func(t *testing.T, dir string, segs []string) {
			flipByte(t, segs[2], 0.9)
		}, "offset"},
		{"bit flip in the length of a middle record", func(t *testing.T, dir string, segs []string) {
			flipAt(t, segs[len(segs)-1], 0)
		}, "follows at offset"},
		{"torn end of an older segment", func(t *testing.T, dir string, segs []string) {
			truncateBy(t, segs[2], 5)
		}, "offset"},
		{"a segment missing in the middle", func(t *testing.T, dir string, segs []string) {
			if err := os.Remove(segs[2]); err != nil {
				t.Fatal(err)
			}
		}, "gap"},
		{"a segment renamed", func(t *testing.T, dir string, segs []string) {
			if err := os.Rename(segs[1], filepath.Join(dir, segmentName(100))); err != nil {
				t.Fatal(err)
			}
		}, "gap"},
		{"floor file damaged", func(t *testing.T, dir string, segs []string) {
			writeFile(t, filepath.Join(dir, floorFile), []byte("junk"))
		}, "corrupt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpenLogStore(t, dir, 2048)
			mustStore(t, s, 1, 200, 20) // 10 segments of 20 entries
			s.Close()
			segs := segmentFiles(t, dir)
			if len(segs) < 4 {
				t.Fatalf("%d segments, want at least 4", len(segs))
			}
			tc.damage(t, dir, segs)
			s, err := openLogStore(dir, logStoreOptions{SegmentSize: 2048})
			if err == nil {
				s.Close()
				t.Fatal("opened a corrupt log")
			}
			if !errors.Is(err, errLogCorrupt) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error %q, want errLogCorrupt mentioning %q", err, tc.wantMsg)
			}
			t.Logf("Open: %v", err)
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

// flipByte flips a bit in the byte at fraction frac of the file.
func flipByte(t *testing.T, path string, frac float64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	flipAt(t, path, int64(float64(fi.Size())*frac))
}

// flipAt flips a bit at offset off of the record that holds the middle of
// the file when off is 0 (its length field), else at off.
func flipAt(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off == 0 {
		off = middleRecord(t, b)
	}
	b[off] ^= 0x10
	writeFile(t, path, b)
}

func middleRecord(t *testing.T, b []byte) int64 {
	t.Helper()
	off := 0
	for off < len(b)/2 {
		n, err := recordLen(b[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	return int64(off)
}

func truncateBy(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-n); err != nil {
		t.Fatal(err)
	}
}

// TestLogStoreWriteErrorIsSticky: after a failed write or fsync the file's
// state is unknown; the store refuses every later write (fail-stop) but
// still serves what it had.
func TestLogStoreWriteErrorIsSticky(t *testing.T) {
	eio := syscall.EIO
	cases := []struct {
		name   string
		inject func(s *logStore, failSync *bool)
	}{
		{"fdatasync fails", func(s *logStore, failSync *bool) { *failSync = true }},
		{"file closed underneath", func(s *logStore, failSync *bool) { s.tail.f.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			failSync := false
			opts := logStoreOptions{sync: func(f *os.File) error {
				if failSync {
					return eio
				}
				return fdatasync(f)
			}}
			s, err := openLogStore(t.TempDir(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			mustStore(t, s, 1, 10, 5)
			tc.inject(s, &failSync)
			if err := s.StoreLogs([]*raft.Log{testEntry(11)}); !errors.Is(err, errLogStoreFailed) {
				t.Fatalf("failing write: %v, want errLogStoreFailed", err)
			}
			failSync = false
			if err := s.StoreLogs([]*raft.Log{testEntry(11)}); !errors.Is(err, errLogStoreFailed) {
				t.Fatalf("write after a failure: %v, want the sticky error", err)
			}
			if err := s.DeleteRange(1, 5); !errors.Is(err, errLogStoreFailed) {
				t.Fatalf("delete after a failure: %v, want the sticky error", err)
			}
			if last, _ := s.LastIndex(); last != 10 {
				t.Fatalf("LastIndex %d after failed writes, want 10", last)
			}
		})
	}
}

// TestLogStoreFailedTruncateIsSticky: a tail truncation whose fsync fails
// leaves the file unknown too.
func TestLogStoreFailedTruncateIsSticky(t *testing.T) {
	fail := false
	s, err := openLogStore(t.TempDir(), logStoreOptions{sync: func(f *os.File) error {
		if fail {
			return syscall.EIO
		}
		return fdatasync(f)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustStore(t, s, 1, 10, 10)
	fail = true
	if err := s.DeleteRange(5, 10); !errors.Is(err, errLogStoreFailed) {
		t.Fatalf("failed truncate: %v, want errLogStoreFailed", err)
	}
	fail = false
	if err := s.StoreLogs([]*raft.Log{testEntry(5)}); !errors.Is(err, errLogStoreFailed) {
		t.Fatalf("write after a failed truncate: %v, want the sticky error", err)
	}
}
