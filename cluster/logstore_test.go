package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// tinySegments makes every batch of testBatch entries roll a new segment.
const tinySegments = 256

func mustOpenLogStore(t testing.TB, dir string, segSize int64) *logStore {
	t.Helper()
	s, err := openLogStore(dir, logStoreOptions{SegmentSize: segSize})
	if err != nil {
		t.Fatalf("open log store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testEntry(i uint64) *raft.Log {
	return &raft.Log{
		Index: i, Term: 1 + i/10, Type: raft.LogCommand,
		Data:       fmt.Appendf(nil, "entry-%d-%s", i, strings.Repeat("x", 40)),
		AppendedAt: time.Unix(1_700_000_000, int64(i)).UTC(),
	}
}

// mustStore stores entries from..to inclusive in batches of batch.
func mustStore(t testing.TB, s *logStore, from, to uint64, batch int) {
	t.Helper()
	for i := from; i <= to; {
		var logs []*raft.Log
		for ; i <= to && len(logs) < batch; i++ {
			logs = append(logs, testEntry(i))
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatalf("store %d-%d: %v", logs[0].Index, logs[len(logs)-1].Index, err)
		}
	}
}

// checkRange asserts First/Last and that exactly first..last are readable
// and equal to testEntry (first == 0: empty).
func checkRange(t testing.TB, s *logStore, first, last uint64) {
	t.Helper()
	f, _ := s.FirstIndex()
	l, _ := s.LastIndex()
	if f != first || l != last {
		t.Fatalf("First/Last = %d/%d, want %d/%d", f, l, first, last)
	}
	for _, i := range []uint64{first - 1, last + 1} {
		var got raft.Log
		if err := s.GetLog(i, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) outside %d-%d: %v, want ErrLogNotFound", i, first, last, err)
		}
	}
	for i := first; first > 0 && i <= last; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if !reflect.DeepEqual(&got, testEntry(i)) {
			t.Fatalf("GetLog(%d) = %+v, want %+v", i, got, *testEntry(i))
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLogStoreRoundTrip(t *testing.T) {
	zone := time.FixedZone("", 2*3600)
	cases := []raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("conf")},
		{Index: 2, Term: 1, Type: raft.LogNoop},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: []byte{}, Extensions: []byte{}},
		{Index: 4, Term: 2, Type: raft.LogCommand, Data: []byte("d"), Extensions: []byte("ext"), AppendedAt: time.Date(2026, 12, 1, 18, 0, 0, 123456789, time.UTC)},
		{Index: 5, Term: 1 << 62, Type: raft.LogBarrier, Data: bytes.Repeat([]byte{0, 0xff}, 5000), AppendedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, zone)},
		{Index: 6, Term: 1 << 62, Type: raft.LogType(200), Extensions: []byte{1}},
	}
	// Offsets with seconds (local mean time) and offsets with no binary
	// form at all keep their instant.
	lmt := raft.Log{Index: 7, Term: 3, AppendedAt: time.Date(1890, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", 3601))}
	huge := raft.Log{Index: 8, Term: 3, AppendedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 40000*60))}
	dir := t.TempDir()
	s := mustOpenLogStore(t, dir, 0)
	var in []*raft.Log
	for i := range cases {
		in = append(in, &cases[i])
	}
	if err := s.StoreLogs(in); err != nil {
		t.Fatal(err)
	}
	check := func(s *logStore) {
		t.Helper()
		for _, want := range cases {
			var got raft.Log
			if err := s.GetLog(want.Index, &got); err != nil {
				t.Fatalf("GetLog(%d): %v", want.Index, err)
			}
			// A time's zone comes back as a fixed offset: compare the instant and offset.
			wantName, wantOff := want.AppendedAt.Zone()
			_, gotOff := got.AppendedAt.Zone()
			if !got.AppendedAt.Equal(want.AppendedAt) || gotOff != wantOff {
				t.Fatalf("entry %d AppendedAt = %v, want %v", want.Index, got.AppendedAt, want.AppendedAt)
			}
			if wantName == "UTC" || want.AppendedAt.IsZero() {
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("entry %d = %#v, want %#v", want.Index, got, want)
				}
			}
			got.AppendedAt, want.AppendedAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("entry %d = %#v, want %#v", want.Index, got, want)
			}
		}
	}
	check(s)
	for _, l := range []*raft.Log{&lmt, &huge} {
		if err := s.StoreLog(l); err != nil {
			t.Fatalf("store a time with zone offset %v: %v", l.AppendedAt, err)
		}
		var got raft.Log
		if err := s.GetLog(l.Index, &got); err != nil || !got.AppendedAt.Equal(l.AppendedAt) {
			t.Fatalf("GetLog(%d) = %v, %v; want AppendedAt %v", l.Index, got.AppendedAt, err, l.AppendedAt)
		}
	}
	s.Close()
	check(mustOpenLogStore(t, dir, 0))
}

func TestLogStoreLocalTimeRoundTrip(t *testing.T) {
	s := mustOpenLogStore(t, t.TempDir(), 0)
	now := time.Now()
	if err := s.StoreLog(&raft.Log{Index: 1, Term: 1, AppendedAt: now}); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	if err := s.GetLog(1, &got); err != nil {
		t.Fatal(err)
	}
	if !got.AppendedAt.Equal(now) {
		t.Fatalf("AppendedAt = %v, want %v", got.AppendedAt, now)
	}
}

func TestLogStoreContiguity(t *testing.T) {
	cases := []struct {
		name    string
		indexes []uint64
		wantErr bool
	}{
		{"next", []uint64{11, 12}, false},
		{"gap", []uint64{12}, true},
		{"repeat", []uint64{10}, true},
		{"behind", []uint64{3}, true},
		{"gap inside batch", []uint64{11, 13}, true},
		{"reversed batch", []uint64{12, 11}, true},
		{"empty batch", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpenLogStore(t, t.TempDir(), 0)
			mustStore(t, s, 5, 10, 3) // an empty store takes any first index
			var logs []*raft.Log
			for _, i := range tc.indexes {
				logs = append(logs, testEntry(i))
			}
			err := s.StoreLogs(logs)
			if tc.wantErr != (err != nil) || (err != nil && !errors.Is(err, errNotContiguous)) {
				t.Fatalf("StoreLogs(%v) = %v, want error %v", tc.indexes, err, tc.wantErr)
			}
			// A refused batch writes nothing and is not fatal.
			last, _ := s.LastIndex()
			mustStore(t, s, last+1, last+2, 2)
			checkRange(t, s, 5, last+2)
		})
	}
	s := mustOpenLogStore(t, t.TempDir(), 0)
	if err := s.StoreLog(&raft.Log{Index: 0}); !errors.Is(err, errNotContiguous) {
		t.Fatalf("index 0: %v, want errNotContiguous", err)
	}
}

func TestLogStoreSegmentsRollAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenLogStore(t, dir, tinySegments)
	mustStore(t, s, 1, 30, 3)
	if n := len(segmentFiles(t, dir)); n != 10 {
		t.Fatalf("%d segment files, want 10 (one per batch)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(4))); err != nil {
		t.Fatalf("segment named by its first index: %v", err)
	}
	s.Close()
	checkRange(t, mustOpenLogStore(t, dir, tinySegments), 1, 30)
}

func TestLogStoreDeleteRange(t *testing.T) {
	cases := []struct {
		name            string
		min, max        uint64
		first, last     uint64 // after; 0, 0: empty
		files           int    // segment files left
		appendFrom      uint64 // then store appendFrom..appendFrom+4
		wantFirst, want uint64 // after the append and a reopen
	}{
		{"head whole segments", 1, 9, 10, 30, 7, 31, 10, 35},
		{"head inside a segment", 1, 11, 12, 30, 7, 31, 12, 35},
		{"head up to one before last", 1, 29, 30, 30, 1, 31, 30, 35},
		{"tail inside a segment", 14, 30, 1, 13, 5, 14, 1, 18},
		{"tail at a segment start", 13, 30, 1, 12, 4, 13, 1, 17},
		{"tail last entry", 30, 30, 1, 29, 10, 30, 1, 34},
		{"everything", 1, 30, 0, 0, 0, 1000, 1000, 1004},
		{"everything, restart lower", 0, 40, 0, 0, 0, 5, 5, 9},
		{"nothing below first", 0, 0, 1, 30, 10, 31, 1, 35},
		{"nothing after last", 31, 40, 1, 30, 10, 31, 1, 35},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpenLogStore(t, dir, tinySegments)
			mustStore(t, s, 1, 30, 3)
			if err := s.DeleteRange(tc.min, tc.max); err != nil {
				t.Fatalf("DeleteRange(%d, %d): %v", tc.min, tc.max, err)
			}
			checkRange(t, s, tc.first, tc.last)
			if n := len(segmentFiles(t, dir)); n != tc.files {
				t.Fatalf("%d segment files, want %d", n, tc.files)
			}
			s.Close()
			s = mustOpenLogStore(t, dir, tinySegments)
			checkRange(t, s, tc.first, tc.last)
			mustStore(t, s, tc.appendFrom, tc.appendFrom+4, 2)
			s.Close()
			checkRange(t, mustOpenLogStore(t, dir, tinySegments), tc.wantFirst, tc.want)
		})
	}
}

func TestLogStoreDeleteMiddleRefused(t *testing.T) {
	s := mustOpenLogStore(t, t.TempDir(), tinySegments)
	mustStore(t, s, 1, 30, 3)
	if err := s.DeleteRange(5, 10); err == nil {
		t.Fatal("deleted from the middle of the log")
	}
	checkRange(t, s, 1, 30)
}

// TestLogStoreInterruptedDelete: a crash while removing files (modelled by
// putting removed files back) must not bring deleted entries back: after a
// delete-all they would sit before a gap, after a compaction below the
// first index.
func TestLogStoreInterruptedDelete(t *testing.T) {
	cases := []struct {
		name        string
		min, max    uint64
		next        uint64 // append next..next+2 before the crash (0: none)
		first, last uint64
	}{
		{"compaction", 1, 20, 0, 21, 30},
		{"delete all", 1, 30, 0, 0, 0},
		{"delete all, then append later", 1, 30, 100, 100, 102},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpenLogStore(t, dir, tinySegments)
			mustStore(t, s, 1, 30, 3)
			saved := readFiles(t, segmentFiles(t, dir))
			if err := s.DeleteRange(tc.min, tc.max); err != nil {
				t.Fatal(err)
			}
			if tc.next > 0 {
				mustStore(t, s, tc.next, tc.next+2, 3)
			}
			s.Close()
			for path, b := range saved {
				if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
					writeFile(t, path, b)
				}
			}
			s = mustOpenLogStore(t, dir, tinySegments)
			if f, l := mustIndexes(t, s); f != tc.first || l != tc.last {
				t.Fatalf("First/Last = %d/%d, want %d/%d", f, l, tc.first, tc.last)
			}
		})
	}
}

func mustIndexes(t testing.TB, s *logStore) (uint64, uint64) {
	t.Helper()
	f, _ := s.FirstIndex()
	l, _ := s.LastIndex()
	return f, l
}

func readFiles(t testing.TB, paths []string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[p] = b
	}
	return m
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLogStoreConcurrentReads runs GetLog from several goroutines while
// the writer appends and compacts, as raft's replication goroutines do.
func TestLogStoreConcurrentReads(t *testing.T) {
	s := mustOpenLogStore(t, t.TempDir(), 4096)
	mustStore(t, s, 1, 10, 5)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for i := uint64(1); ; i = i%400 + 1 {
				select {
				case <-stop:
					return
				default:
				}
				var l raft.Log
				err := s.GetLog(i, &l)
				if err != nil && !errors.Is(err, raft.ErrLogNotFound) {
					errs <- err
					return
				}
				if err == nil && !reflect.DeepEqual(&l, testEntry(i)) {
					errs <- fmt.Errorf("GetLog(%d) = %+v", i, l)
					return
				}
			}
		})
	}
	for i := uint64(11); i <= 400; i += 10 {
		mustStore(t, s, i, i+9, 10)
		if i%50 == 1 {
			first, _ := s.FirstIndex()
			if err := s.DeleteRange(first, i-20); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
