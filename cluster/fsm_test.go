package cluster

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// recordSM records what the fsm hands it and answers "r<index>".
type recordSM struct {
	indexes  []uint64
	cmds     [][]byte
	applied  uint64
	snap     string
	snapErr  error
	restored string
	short    bool // return one result too few
}

func (r *recordSM) ApplyBatch(indexes []uint64, cmds [][]byte) []any {
	r.indexes = append(r.indexes, indexes...)
	r.cmds = append(r.cmds, cmds...)
	res := make([]any, len(indexes))
	for i, idx := range indexes {
		res[i] = idx * 10
	}
	if r.short {
		return res[1:]
	}
	return res
}

func (r *recordSM) AppliedIndex() uint64 { return r.applied }

func (r *recordSM) Snapshot() (io.ReadCloser, error) {
	if r.snapErr != nil {
		return nil, r.snapErr
	}
	return &trackingReader{Reader: strings.NewReader(r.snap)}, nil
}

func (r *recordSM) Restore(rc io.ReadCloser) error {
	b, err := io.ReadAll(rc)
	r.restored = string(b)
	return err
}

type trackingReader struct {
	io.Reader
	closes int
}

func (t *trackingReader) Close() error { t.closes++; return nil }

func TestFSMApplyBatchPassesEveryEntry(t *testing.T) {
	sm := &recordSM{}
	f := &fsm{sm: sm}
	logs := []*raft.Log{
		{Index: 5, Type: raft.LogCommand, Data: []byte("a")},
		{Index: 6, Type: raft.LogConfiguration, Data: []byte("conf bytes")},
		{Index: 7, Type: raft.LogCommand, Data: nil},
		{Index: 8, Type: raft.LogCommand, Data: []byte{}},
	}
	res := f.ApplyBatch(logs)
	if want := []any{uint64(50), uint64(60), uint64(70), uint64(80)}; !reflect.DeepEqual(res, want) {
		t.Fatalf("results %v, want %v", res, want)
	}
	if want := []uint64{5, 6, 7, 8}; !reflect.DeepEqual(sm.indexes, want) {
		t.Fatalf("indexes %v, want %v", sm.indexes, want)
	}
	if want := [][]byte{[]byte("a"), nil, {}, {}}; !reflect.DeepEqual(sm.cmds, want) {
		t.Fatalf("cmds %q, want %q", sm.cmds, want)
	}
	if sm.cmds[1] != nil || sm.cmds[2] == nil || sm.cmds[3] == nil {
		t.Fatalf("configuration entry must be nil and empty commands non-nil: %#v", sm.cmds)
	}
	if got := f.Apply(&raft.Log{Index: 9, Type: raft.LogCommand, Data: []byte("b")}); got != uint64(90) {
		t.Fatalf("Apply = %v, want 90", got)
	}
}

func TestFSMApplyBatchWrongResultCountPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "returned 1 results for 2 entries") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	(&fsm{sm: &recordSM{short: true}}).ApplyBatch([]*raft.Log{{Index: 1}, {Index: 2}})
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	failWrite         bool
	closed, cancelled bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.failWrite {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) ID() string    { return "test" }

func TestFSMSnapshotRoundTrip(t *testing.T) {
	sm := &recordSM{applied: 0x0102030405060708, snap: "state bytes"}
	f := &fsm{sm: sm}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("persist: %v", err)
	}
	snap.Release()
	snap.Release()
	want := "TGS1\x01\x02\x03\x04\x05\x06\x07\x08state bytes"
	if sink.String() != want || !sink.closed || sink.cancelled {
		t.Fatalf("sink %q closed=%v cancelled=%v, want %q closed", sink.String(), sink.closed, sink.cancelled, want)
	}
	if c := snap.(*fsmSnapshot).rc.(*trackingReader).closes; c != 1 {
		t.Fatalf("reader closed %d times, want 1", c)
	}

	if err := f.Restore(io.NopCloser(strings.NewReader(want))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if sm.restored != "state bytes" {
		t.Fatalf("state machine restored %q", sm.restored)
	}
	applied, err := readSnapshotHeader(strings.NewReader(want))
	if err != nil || applied != 0x0102030405060708 {
		t.Fatalf("header = %#x, %v", applied, err)
	}
}

func TestFSMSnapshotErrors(t *testing.T) {
	sm := &recordSM{snap: "x"}
	f := &fsm{sm: sm}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{failWrite: true}
	if err := snap.Persist(sink); err == nil || !sink.cancelled || sink.closed {
		t.Fatalf("persist to a failing sink: err=%v cancelled=%v closed=%v", err, sink.cancelled, sink.closed)
	}
	snap.Release()

	sm.snapErr = errors.New("no read tx")
	if _, err := f.Snapshot(); !errors.Is(err, sm.snapErr) {
		t.Fatalf("snapshot error %v, want it wrapped", err)
	}

	for _, bad := range []string{"", "TGS", "XXXX12345678state", "TGS1\x00\x01"} {
		if err := f.Restore(io.NopCloser(strings.NewReader(bad))); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("restore %q: %v, want ErrBadSnapshot", bad, err)
		}
	}
	if sm.restored != "" {
		t.Fatalf("a bad snapshot reached the state machine: %q", sm.restored)
	}
}
