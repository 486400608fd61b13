package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Deferred commits. A bbolt commit costs what it touches, not what it
// carries: every index's tail page, the branch pages above them, the meta
// page, one pwrite each. Raft hands the store batches of a few entries (at
// 1,000 tx/s often one), and a commit per batch was most of a standby's
// CPU and, on the active, a commit on the path of every answer.
//
// A NoSync store's file is not the durable copy (Raft's log is, and the
// node discards a file that was not closed cleanly), so an uncommitted
// batch loses nothing a crash would not lose anyway: such a store leaves
// the register path's commands (deferrable) in one open write transaction
// and commits many batches at once. What must hold is that nobody reads
// around the open transaction: every read (view), Snapshot and Close
// commits it first, so a reader sees every batch ApplyBatch has returned.
// The one exception is Terminal, which every request reads: it reads the
// committed file, and a batch that changes the registry (any command
// outside deferrable) is committed before ApplyBatch returns.
const (
	// deferDelay bounds how long applied batches stay uncommitted: a
	// failing disk shows (ErrFailed) within it. A transaction's keys land
	// on pages all over idx_id, so a commit's cost falls slowly with its
	// size: at 2,000 registers 50 ms took a standby's CPU per transaction
	// ~10% down, 250 ms ~17% (tillbench local, alternated runs).
	deferDelay = 250 * time.Millisecond
	// deferEntries bounds the open transaction's dirty pages in memory.
	deferEntries = 16384
)

// deferrable reports whether a command's changes may wait for a later
// commit: the register path's, which Terminal does not read.
func deferrable(op Op) bool {
	switch op {
	case OpIntent, OpOutcome, OpOutcomeSAF, OpSAFAck:
		return true
	}
	return false
}

// pendingTx returns the open write transaction, beginning one if there is
// none. s.wmu must be held.
func (s *Store) pendingTx() (*bolt.Tx, error) {
	if s.wtx != nil {
		return s.wtx, nil
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, err
	}
	s.wtx, s.wtxEntries, s.wtxBase = tx, 0, s.applied.Load()
	return tx, nil
}

// settle ends ApplyBatch's use of the open transaction: it commits it
// unless deferring allows it to stay open, in which case it arms the timer
// that commits it within deferDelay. s.wmu must be held.
func (s *Store) settle(entries int, mustCommit bool) error {
	s.wtxEntries += entries
	if mustCommit || !s.opts.NoSync || s.wtxEntries >= deferEntries {
		return s.commitPending()
	}
	if !s.pending.Swap(true) {
		s.timer = time.AfterFunc(deferDelay, s.flushLater)
	}
	return nil
}

// commitPending commits the open transaction, if any. On error it is
// rolled back: the caller fails the store. s.wmu must be held.
func (s *Store) commitPending() error {
	tx := s.wtx
	if tx == nil {
		return nil
	}
	s.wtx = nil
	s.pending.Store(false)
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.opts.CommitHook != nil && s.wtxEntries > 0 {
		if err := s.opts.CommitHook(); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// rollbackPending discards the open transaction and what it applied.
// s.wmu must be held.
func (s *Store) rollbackPending() {
	if s.wtx == nil {
		return
	}
	_ = s.wtx.Rollback()
	s.wtx = nil
	s.pending.Store(false)
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.applied.Store(s.wtxBase)
}

// flush commits what deferred commits left open, so that a reader sees it.
// s.mu must be held (either way) and s.db open. A commit that fails stops
// the store.
func (s *Store) flush() error {
	if !s.pending.Load() {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.failure() != nil {
		s.rollbackPending() // a failed store reads what it committed
		return nil
	}
	base, last := s.wtxBase, s.applied.Load()
	if err := s.commitPending(); err != nil {
		s.applied.Store(base)
		s.fail(fmt.Errorf("commit entries %d-%d to %s: %w", base+1, last, s.path, err))
		return s.failure()
	}
	return nil
}

// flushLater is the deferDelay timer: commit what has waited long enough.
func (s *Store) flushLater() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db != nil {
		_ = s.flush()
	}
}
