package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// maxKeyField bounds the fields that become bbolt keys. ISO 8583 sizes are
// far smaller (ID 24, RRN 12, merchant 15); the bound keeps a hostile
// command from making a bbolt Put fail, which would stop the store.
const maxKeyField = 64

// ApplyBatch applies committed Raft entries in one bbolt transaction that
// also records the highest index. It returns one result per entry: nil for
// an entry at or below the index already applied (replayed after a restart)
// and for a nil command (a Raft configuration entry, which only advances
// the index); otherwise a Result. A command that does not decode or breaks
// a rule gets Result.Err and changes nothing, but its index still counts.
//
// A NoSync store may leave the batch uncommitted for a while (deferred.go);
// every read sees it all the same.
//
// It never panics. If the batch cannot be applied or committed, every
// entry gets ErrFailed and so does every later batch (see ErrFailed); a
// deferred commit that fails later stops the store the same way.
func (s *Store) ApplyBatch(indexes []uint64, cmds [][]byte) []any {
	results := make([]any, len(cmds))
	if len(indexes) != len(cmds) {
		err := fmt.Errorf("%w: %d indexes for %d commands", ErrInvalid, len(indexes), len(cmds))
		for i := range cmds {
			if cmds[i] != nil {
				results[i] = Result{Err: err}
			}
		}
		return results
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	applied := s.applied.Load()
	if err := s.failure(); err != nil {
		return refuse(results, indexes, cmds, applied, err)
	}
	if s.db == nil {
		return refuse(results, indexes, cmds, applied, ErrClosed)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	committed := applied // what the file holds: less while batches are pending
	if s.wtx != nil {
		committed = s.wtxBase
	}
	last, keys, commitNow, err := s.applyBatch(indexes, cmds, results)
	if err == nil {
		err = s.settle(int(last-applied), commitNow)
	} else {
		s.rollbackPending()
	}
	if err != nil {
		// Earlier batches went with the failed transaction: Raft replays
		// them after the restart that ErrFailed asks for.
		applied = committed
		s.applied.Store(applied)
		s.fail(fmt.Errorf("apply batch of %d entries up to index %d to %s: %w", len(cmds), indexes[len(indexes)-1], s.path, err))
		return refuse(results, indexes, cmds, applied, s.failure())
	}
	s.applied.Store(last)
	if keys {
		if err := s.loadKeyState(s.db); err != nil {
			s.log.Error("store: card key state", "err", err)
		}
	}
	return results
}

// refuse answers err to every command that would have been applied:
// nothing was.
func refuse(results []any, indexes []uint64, cmds [][]byte, applied uint64, err error) []any {
	for i := range results {
		results[i] = nil
		if cmds[i] != nil && indexes[i] > applied {
			results[i] = Result{Err: err}
			applied = indexes[i]
		}
	}
	return results
}

// applyBatch applies the batch in the open write transaction (see
// deferred.go) and returns the applied index it reached. A panic inside is
// turned into an error; the caller rolls the transaction back. s.wmu must
// be held.
func (s *Store) applyBatch(indexes []uint64, cmds [][]byte, results []any) (last uint64, keys, commitNow bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	tx, err := s.pendingTx()
	if err != nil {
		return 0, false, false, err
	}
	meta := tx.Bucket(bucketMeta)
	prev := readApplied(meta)
	last = prev
	a := newApplier(tx, s.log)
	a.hints = &s.hints
	for i, cmd := range cmds {
		if indexes[i] <= last {
			continue // applied before: Raft replays from its last snapshot
		}
		last = indexes[i]
		if cmd == nil {
			continue
		}
		r, err := a.apply(indexes[i], cmd)
		if err != nil {
			return 0, false, false, fmt.Errorf("index %d: %w", indexes[i], err)
		}
		results[i] = r
	}
	if last == prev {
		return last, false, false, nil
	}
	return last, a.keysChanged, a.commitNow, meta.Put(metaApplied, binary.BigEndian.AppendUint64(nil, last))
}

// applier applies commands inside one write transaction. Its methods return
// a Result for anything the command decides (including its refusal), and an
// error only when storage fails, which aborts the whole batch.
type applier struct {
	tx  *bolt.Tx
	log *slog.Logger
	// index is the Raft index of the command being applied: the seq of the
	// record an INTENT creates.
	index uint64
	// keysChanged: a command changed the card keys' state (the store
	// reloads its copy after the commit).
	keysChanged bool
	// lean: the file has the lean layout (layout.go), which writes fewer
	// index entries.
	lean bool
	// commitNow: a command that may not wait for a deferred commit
	// (deferrable) was applied.
	commitNow bool
	// hints: where recent INTENTs' records are (nil: no hints).
	hints *idHints
}

func newApplier(tx *bolt.Tx, log *slog.Logger) *applier {
	for _, b := range tailBuckets() {
		tx.Bucket(b.name).FillPercent = b.percent
	}
	return &applier{tx: tx, log: log, lean: isLean(tx)}
}

func (a *applier) apply(index uint64, cmd []byte) (Result, error) {
	a.index = index
	c, err := DecodeCommand(cmd)
	if err != nil {
		return Result{Err: err}, nil
	}
	if !deferrable(c.Op) {
		a.commitNow = true
	}
	switch c.Op {
	case OpIntent:
		return a.intent(c.Intent)
	case OpOutcome:
		return a.outcome(c.Outcome)
	case OpOutcomeSAF:
		return a.outcomeSAF(c.Outcome, c.SAF)
	case OpSAFAck:
		return a.safAck(c.SAFAck)
	case OpCutover:
		return a.cutover(c.day)
	case OpSettle:
		return a.settle(c.day)
	case OpDayFile:
		return a.dayFile(c.day)
	case OpDayReconciled:
		return a.dayReconciled(c.day)
	case OpBatchClose:
		return a.batchClose(c.Batch)
	case OpBatchUpload:
		return a.batchUpload(c.Batch)
	case OpTerminalsAdd:
		return a.terminalsAdd(c.terms)
	case OpTerminalsBlock:
		return a.terminalsBlock(c.terms)
	case OpAudit:
		return a.audit(c.Audit)
	case OpMerchantAdd:
		return a.merchantAdd(c.Merchant)
	case OpPaymentCreate:
		return a.paymentCreate(c.Payment)
	case OpPaymentStep:
		return a.paymentStep(c.pstep)
	case OpPaymentAuth:
		return a.paymentAuth(c.pauth)
	case OpLinkCreate:
		return a.linkCreate(c.Link)
	case OpOutboxAdd:
		return a.outboxAdd(c.Messages)
	case OpCardKey:
		return a.cardKey(c.Key)
	case OpReseal:
		return a.reseal(c.Reseal)
	case OpMerchantWebhook:
		return a.merchantWebhook(c.Webhook)
	case OpWebhookAck:
		return a.webhookAck(c.WebhookAck)
	case OpSchema:
		return a.schema(c.schema)
	}
	return Result{Err: fmt.Errorf("%w: op %d", ErrUnknownOp, c.Op)}, nil
}

// get reads a stored transaction and its record key; nil if absent. A
// record that does not decode, or an id that names no record, is storage
// corruption, not a property of the command.
func (a *applier) get(id string) (*Txn, []byte, error) {
	if seq, ok := a.hints.find(id); ok {
		if t, err := getTxn(a.tx, seq); err == nil && t != nil && t.ID == id {
			return t, seq, nil
		}
	}
	seq := a.tx.Bucket(bucketIDs).Get([]byte(id))
	if seq == nil {
		return nil, nil, nil
	}
	t, err := getTxn(a.tx, seq)
	if err == nil && t == nil {
		err = fmt.Errorf("%w: id index names missing record of %s", ErrCorrupt, id)
	}
	return t, bytes.Clone(seq), err
}

// exists reports whether a transaction with identity id is recorded.
func (a *applier) exists(id string) bool {
	return a.tx.Bucket(bucketIDs).Get([]byte(id)) != nil
}

func validateIntent(t *Txn) error {
	switch {
	case !t.Type.storable():
		return fmt.Errorf("%w: intent %s of type %v", ErrInvalid, t.ID, t.Type)
	case t.ID == "" || len(t.ID) > maxKeyField || t.ID != t.TerminalID+t.STAN+t.TransmissionTime:
		return fmt.Errorf("%w: intent id %q is not terminal+STAN+DE7", ErrInvalid, t.ID)
	case len(t.RRN) > maxKeyField || len(t.MerchantID) > maxKeyField || len(t.OriginalID) > maxKeyField:
		return fmt.Errorf("%w: intent %s: RRN, merchant or original id over %d bytes", ErrInvalid, t.ID, maxKeyField)
	}
	return nil
}

// intent records a new transaction, or returns the one recorded under its
// identity.
func (a *applier) intent(t *Txn) (Result, error) {
	if err := validateIntent(t); err != nil {
		return Result{Err: err}, nil
	}
	old, _, err := a.get(t.ID)
	if err != nil || old != nil {
		return Result{Txn: old, Existed: old != nil}, err
	}
	if id, err := SealedKeyID(t.PANEnc); err == nil {
		k, err := a.keyState()
		if err != nil {
			return Result{}, err
		}
		if k.retired(id) {
			return Result{Err: fmt.Errorf("%w: intent %s sealed under key %d", ErrKeyRetired, t.ID, id)}, nil
		}
	}
	if t.Day, err = a.openDay(t.CreatedAt); err != nil {
		return Result{}, err
	}
	if t.Batch, err = a.openBatch(t.TerminalID); err != nil {
		return Result{}, err
	}
	if err := a.identify(t); err != nil {
		return Result{}, err
	}
	t.Status, t.UpdatedAt = StatusPending, t.CreatedAt
	cancelled, err := a.reversedFirst(t)
	if err != nil {
		return Result{}, err
	}
	seq := seqKey(a.index)
	if err := a.insert(t, seq); err != nil {
		return Result{}, err
	}
	if cancelled {
		// The register reversed this transaction before it arrived (it
		// timed out there): it must never reach the acquirer, so it is
		// final from the start.
		t.Status, t.RC = StatusDeclined, RCReversedFirst
		if err := a.update(t, seq, StatusPending); err != nil {
			return Result{}, err
		}
	}
	return Result{Txn: t}, nil
}

// identify gives t the identity the acquirer will see, where the command
// left it to Apply: the next STAN of its terminal, and an RRN made of its
// Raft index. Both then come from the log, so they never repeat whichever
// node leads, and a strict acquirer (one STAN per terminal and day) never
// sees one twice for two transactions.
func (a *applier) identify(t *Txn) error {
	if t.AcqSTAN == "" {
		stan, err := a.nextAcqSTAN(t.TerminalID)
		if err != nil {
			return err
		}
		t.AcqSTAN = stan
	}
	if t.RRN == "" {
		t.RRN = seqRRN(a.index)
	}
	return nil
}

// nextAcqSTAN hands out the next of a terminal's acquirer STANs,
// 000001-999999, then again from 000001.
func (a *applier) nextAcqSTAN(terminal string) (string, error) {
	b := a.tx.Bucket(bucketAcqSTAN)
	var last uint32
	if v := b.Get([]byte(terminal)); len(v) == 4 {
		last = binary.BigEndian.Uint32(v)
	}
	next := last%999999 + 1
	if err := b.Put([]byte(terminal), binary.BigEndian.AppendUint32(nil, next)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", next), nil
}

// RCReversedFirst answers an original whose reversal was recorded before it:
// do not honour, since the register has already cancelled it.
const RCReversedFirst = "05"

// reversedFirst remembers a reversal whose original is unknown, and reports
// whether t is an original that such a reversal already cancelled. Either
// order of arrival then nets to zero (FAULTS.md I3).
func (a *applier) reversedFirst(t *Txn) (bool, error) {
	early := a.tx.Bucket(bucketReversedFirst)
	if t.Type != TypeReversal {
		return early.Get([]byte(t.ID)) != nil, nil
	}
	if t.OriginalID == "" || a.exists(t.OriginalID) {
		return false, nil
	}
	return false, early.Put([]byte(t.OriginalID), []byte(t.ID))
}

// outcome records the answer to an open transaction. A final one keeps its
// first answer: a repeated OUTCOME is a no-op that returns it.
func (a *applier) outcome(o *Outcome) (Result, error) {
	switch o.Status {
	case StatusApproved, StatusDeclined, StatusUnknown, StatusReversed:
	default:
		return Result{Err: fmt.Errorf("%w: outcome %s with status %v", ErrInvalid, o.ID, o.Status)}, nil
	}
	t, seq, err := a.get(o.ID)
	if err != nil {
		return Result{}, err
	}
	if t == nil {
		return Result{Err: fmt.Errorf("%w: outcome for %s", ErrNotFound, o.ID)}, nil
	}
	frozen := false
	if t.Status == StatusUnknown {
		if frozen, err = a.frozen(t); err != nil {
			return Result{}, err
		}
	}
	if !t.Status.open() || frozen {
		if t.Status != o.Status {
			a.log.Warn("outcome for a final or settled transaction ignored", logKeyID, o.ID, "stored", t.Status, "outcome", o.Status, "day", t.Day)
		}
		if o.Repeat && !t.Repeat {
			// The answer stands, but the acquirer was asked again: that
			// it may hold the identity twice is a fact to keep.
			t.Repeat = true
			return Result{Txn: t}, a.putRecord(t, seq)
		}
		return Result{Txn: t}, nil
	}
	prev := t.Status
	t.Status, t.RC, t.AuthCode, t.StandIn, t.UpdatedAt = o.Status, o.RC, o.AuthCode, o.StandIn, o.At
	t.Repeat = t.Repeat || o.Repeat
	if err := a.update(t, seq, prev); err != nil {
		return Result{}, err
	}
	if t.Type == TypeReversal && t.Status == StatusApproved && t.OriginalID != "" {
		if err := a.reverse(t.OriginalID, o.At, t.ID); err != nil {
			return Result{}, err
		}
	}
	if err := a.reversedWhilePending(t, seq, o.At); err != nil {
		return Result{}, err
	}
	return Result{Txn: t}, nil
}

// reversedWhilePending settles t, which has just got its outcome, if a
// register's reversal of it was approved while it was still pending (see
// reverse): the register holds that reversal as final, so t must end
// reversed, and if the acquirer approved t the acquirer is owed a
// reversal, whatever it did with the register's one (a strict acquirer
// refuses a reversal of what it has not seen yet).
func (a *applier) reversedWhilePending(t *Txn, seq []byte, at int64) error {
	if t.Type == TypeReversal || (t.Status != StatusApproved && t.Status != StatusUnknown) {
		return nil
	}
	if a.tx.Bucket(bucketReversedFirst).Get([]byte(t.ID)) == nil {
		return nil
	}
	if t.Status == StatusApproved {
		e := SAFEntry{Acquirer: t.Acquirer, Kind: SAFReversal, TxnID: t.ID}
		if err := a.enqueue(&e, t, at); err != nil {
			return err
		}
	}
	prev := t.Status
	t.Status, t.UpdatedAt = StatusReversed, at
	return a.update(t, seq, prev)
}

// reverse marks the original of an approved reversal (by, "" for the
// acknowledged reversal of an unknown outcome) as reversed. Only an
// approval, or an unknown outcome (the acquirer may have approved it), can
// be reversed; a declined or already reversed original stays as it is.
// An approval of a settled day stays approved (its file must not change):
// the first reversal to take it back is remembered instead, and settles
// in its own day (reversedLate).
func (a *applier) reverse(id string, at int64, by string) error {
	orig, seq, err := a.get(id)
	if err != nil || orig == nil {
		return err
	}
	if orig.Status == StatusPending {
		// Its outcome is not known yet: remember the reversal, and let
		// that outcome settle it (reversedWhilePending).
		if by == "" {
			return nil
		}
		return a.tx.Bucket(bucketReversedFirst).Put([]byte(id), []byte(by))
	}
	if orig.Status != StatusApproved && orig.Status != StatusUnknown {
		return nil
	}
	if orig.Status == StatusApproved {
		frozen, err := a.frozen(orig)
		if err != nil {
			return err
		}
		if frozen {
			return a.reversedLate(id, by)
		}
	}
	prev := orig.Status
	orig.Status, orig.UpdatedAt = StatusReversed, at
	return a.update(orig, seq, prev)
}

// reversedLate remembers by as the reversal that took back the settled
// approval id, unless one did before.
func (a *applier) reversedLate(id, by string) error {
	late := a.tx.Bucket(bucketReversedLate)
	if by == "" || late.Get([]byte(id)) != nil {
		return nil
	}
	return late.Put([]byte(id), []byte(by))
}

// insert writes a new transaction under seq, and all its index entries.
func (a *applier) insert(t *Txn, seq []byte) error {
	if err := a.putRecord(t, seq); err != nil {
		return err
	}
	if err := a.countSealed(nil, t.PANEnc); err != nil {
		return err
	}
	if err := a.tx.Bucket(bucketIDs).Put([]byte(t.ID), seq); err != nil {
		return err
	}
	a.hints.add(t.ID, seq)
	if err := a.indexRRN(t, seq); err != nil {
		return err
	}
	if !a.lean {
		if err := a.tx.Bucket(bucketMerchant).Put(merchantKey(t.MerchantID, t.Day, seq), seq); err != nil {
			return err
		}
		if err := a.tx.Bucket(bucketDay).Put(dayKey(t.Day, seq), seq); err != nil {
			return err
		}
	}
	return a.tx.Bucket(bucketStatus).Put(statusKey(t.Status, seq), seq)
}

// indexRRN indexes t's RRN unless an earlier transaction has it (the
// first keeps it) or, in the lean layout, it is t's own (layout.go).
func (a *applier) indexRRN(t *Txn, seq []byte) error {
	if t.RRN == "" || (a.lean && ownRRN(t.RRN, a.index)) {
		return nil
	}
	rrn := a.tx.Bucket(bucketRRN)
	if rrn.Get([]byte(t.RRN)) != nil {
		return nil
	}
	if a.lean {
		// An earlier record may hold it as its own RRN, unindexed. (Not
		// t's: its own RRN returned above.)
		if old, err := lookupRRN(a.tx, t.RRN); err != nil || old != nil {
			return err
		}
	}
	return rrn.Put([]byte(t.RRN), seq)
}

// update rewrites the transaction at seq whose status changed from prev,
// and moves it in the status index.
func (a *applier) update(t *Txn, seq []byte, prev Status) error {
	if err := a.putRecord(t, seq); err != nil {
		return err
	}
	if err := a.countInBatch(t, prev); err != nil {
		return err
	}
	status := a.tx.Bucket(bucketStatus)
	if err := status.Delete(statusKey(prev, seq)); err != nil {
		return err
	}
	if prev.open() && !t.Status.open() {
		if err := a.paymentAnswered(t); err != nil {
			return err
		}
	}
	if a.lean && !t.Status.open() {
		return nil
	}
	return status.Put(statusKey(t.Status, seq), seq)
}

// putRecord writes t under seq. bbolt keeps key and value until the
// commit, so the value is a fresh buffer and seq must not be reused.
func (a *applier) putRecord(t *Txn, seq []byte) error {
	return a.tx.Bucket(bucketTxns).Put(seq, appendTxn(make([]byte, 0, 320), t))
}
