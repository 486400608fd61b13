package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// StateMachine is what the cluster replicates. store.Store implements it.
// Raft calls ApplyBatch, Snapshot and Restore from one goroutine, never
// concurrently with each other.
type StateMachine interface {
	// ApplyBatch applies committed entries in log order. indexes[i] is the
	// Raft index of cmds[i]; cmds[i] is nil for an entry that carries no
	// command (a configuration change), so the index can still be recorded.
	// A command is never nil (an empty command arrives as an empty, non-nil
	// slice). The slices alias Raft's log: copy what you keep. It must
	// return exactly one result per entry; entries at or below the state
	// machine's applied index must be skipped (Raft replays them on restart).
	ApplyBatch(indexes []uint64, cmds [][]byte) []any
	// Snapshot returns a point-in-time copy of the whole state. It is called
	// between batches; reading it may continue concurrently with later
	// batches. The cluster closes it.
	Snapshot() (io.ReadCloser, error)
	// Restore replaces the whole state with a Snapshot's content.
	Restore(io.ReadCloser) error
}

// appliedIndexer is implemented by durable state machines (store.Store)
// that record the applied index with their data. See Open.
type appliedIndexer interface {
	AppliedIndex() uint64
}

// Snapshots carry a small header in front of the state machine's bytes: the
// state machine's applied index when the snapshot was taken. Raft's own
// snapshot index can be higher (it counts no-op and barrier entries that the
// state machine never sees), and Open needs the exact figure to tell whether
// a durable state machine is behind its latest local snapshot.
var snapshotMagic = [4]byte{'T', 'G', 'S', '1'}

const snapshotHeaderLen = len(snapshotMagic) + 8

func snapshotHeader(applied uint64) []byte {
	h := make([]byte, snapshotHeaderLen)
	copy(h, snapshotMagic[:])
	binary.BigEndian.PutUint64(h[len(snapshotMagic):], applied)
	return h
}

// readSnapshotHeader consumes the header and returns the applied index.
func readSnapshotHeader(r io.Reader) (uint64, error) {
	var h [snapshotHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, fmt.Errorf("%w: header: %w", ErrBadSnapshot, err)
	}
	if !bytes.Equal(h[:len(snapshotMagic)], snapshotMagic[:]) {
		return 0, fmt.Errorf("%w: unknown header %q", ErrBadSnapshot, h[:len(snapshotMagic)])
	}
	return binary.BigEndian.Uint64(h[len(snapshotMagic):]), nil
}

// fsm bridges raft.BatchingFSM to a StateMachine. It holds no state of its
// own: every decision is the state machine's.
type fsm struct {
	sm StateMachine
}

var _ raft.BatchingFSM = (*fsm)(nil)

// ApplyBatch receives LogCommand and LogConfiguration entries (raft filters
// out no-ops and barriers). Every entry is passed on, commands with their
// data and the rest as nil, so that the state machine's applied index
// follows the log exactly.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	indexes := make([]uint64, len(logs))
	cmds := make([][]byte, len(logs))
	for i, l := range logs {
		indexes[i] = l.Index
		if l.Type == raft.LogCommand {
			cmds[i] = commandData(l.Data)
		}
	}
	res := f.sm.ApplyBatch(indexes, cmds)
	if len(res) != len(logs) {
		// A state machine bug, and raft would panic on it anyway; say what
		// went wrong. Continuing would hand results to the wrong callers.
		panic(fmt.Sprintf("cluster: StateMachine.ApplyBatch returned %d results for %d entries", len(res), len(logs)))
	}
	return res
}

// commandData keeps "no command" (nil) distinct from an empty command: the
// leader holds the caller's slice while followers decode theirs from the
// wire, where an empty slice may come back as nil.
func commandData(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Apply is only used by raft when the FSM does not batch; kept for the
// raft.FSM interface and routed through the same path.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// Snapshot runs on raft's FSM goroutine between batches, so the applied
// index read here belongs to the state the state machine captures.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	var applied uint64
	if ai, ok := f.sm.(appliedIndexer); ok {
		applied = ai.AppliedIndex()
	}
	rc, err := f.sm.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("cluster: snapshot: %w", err)
	}
	return &fsmSnapshot{header: snapshotHeader(applied), rc: rc}, nil
}

// Restore strips our header and hands the rest to the state machine.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if _, err := readSnapshotHeader(rc); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	if err := f.sm.Restore(rc); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	return nil
}

// fsmSnapshot streams a state machine snapshot into raft's sink. Raft calls
// Persist (maybe) and then Release (always), concurrently with new batches.
type fsmSnapshot struct {
	header []byte
	rc     io.ReadCloser
	once   sync.Once
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		return errors.Join(fmt.Errorf("cluster: persist snapshot: %w", err), sink.Cancel())
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("cluster: persist snapshot: close sink: %w", err)
	}
	return nil
}

func (s *fsmSnapshot) write(w io.Writer) error {
	if _, err := w.Write(s.header); err != nil {
		return err
	}
	_, err := io.Copy(w, s.rc)
	return err
}

// Release closes the state machine's reader (ending, for store, its read
// transaction). Safe to call more than once.
func (s *fsmSnapshot) Release() {
	s.once.Do(func() { s.rc.Close() })
}
