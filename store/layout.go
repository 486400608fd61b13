package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// The lean layout (schema 5). Under schema 4 every transaction costs five
// index writes; three of them only serve readers that can walk the records
// instead, and their pages were about a third of what a commit wrote
// (BenchmarkApplyState). Schema 5 leaves them out:
//
//   - idx_rrn keeps only RRNs that are not the record's own seq in twelve
//     digits, which is what Apply gives every transaction whose command
//     leaves the RRN empty (identify): ByRRN reads that record directly.
//   - idx_status keeps only the open statuses (pending, unknown), which the
//     takeover, the sweep and the day's settle read on their paths; a query
//     or total of final statuses walks the records.
//   - idx_day is gone: a day's transactions are one range of seqs, between
//     the cutover that opened it and the one that closed it (day.go), and a
//     day walk reads that range of records.
//   - idx_merchant is gone: only the admin API's transaction list reads it;
//     it walks the day's records, or every record for a merchant without a
//     day (stopping at a page). Under a fleet of many merchants its key
//     landed on another page for every transaction (one per merchant's
//     tail): with 200 merchants it was a third of what a commit wrote.
//
// The readers work on both layouts, so the layout is a property of the file
// alone. It changes only by OpSchema, a log entry: every replica converts
// at the same index and the files stay equal (Hash). A new file starts at
// schema 4, so a node that replays the log from its start agrees with the
// others whichever binary wrote them. OpSchema must only be committed once
// every node runs a binary that knows it: an older binary refuses the op
// (ErrUnknownOp) and would go on writing schema 4, and it refuses to open a
// schema 5 file or snapshot, which is the point: it would not keep the
// file's rules.

// OpSchema converts the state to a newer schema (SchemaCmd).
const OpSchema Op = 29

// schemaLean is the schema OpSchema converts to.
const schemaLean = "5"

// SchemaCmd encodes OpSchema: convert the state to schema version (only
// "5" is known). Converting a state already there changes nothing
// (Existed).
func SchemaCmd(version string) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpSchema)}}
	w.str(version)
	return w.b
}

// SchemaLean is the version SchemaCmd takes to reach the lean layout.
const SchemaLean = schemaLean

// knownSchema reports whether this binary reads and writes files of
// schema v.
func knownSchema(v string) bool { return v == schemaVersion || v == schemaLean }

// isLean reports whether the file in tx has the lean layout.
func isLean(tx *bolt.Tx) bool { return string(tx.Bucket(bucketMeta).Get(metaSchema)) == schemaLean }

// schema applies OpSchema.
func (a *applier) schema(version string) (Result, error) {
	if version != schemaLean {
		return Result{Err: fmt.Errorf("%w: schema %q: this binary converts to %q only", ErrInvalid, version, schemaLean)}, nil
	}
	if a.lean {
		return Result{Existed: true}, nil
	}
	// idx_day and idx_merchant go whole (emptied: every bucket exists from
	// Open on); idx_status keeps its open part.
	for _, name := range [][]byte{bucketDay, bucketMerchant} {
		if err := a.tx.DeleteBucket(name); err != nil {
			return Result{}, fmt.Errorf("schema %s: %s: %w", version, name, err)
		}
		if _, err := a.tx.CreateBucket(name); err != nil {
			return Result{}, fmt.Errorf("schema %s: %s: %w", version, name, err)
		}
	}
	var open [][2][]byte
	c := a.tx.Bucket(bucketStatus).Cursor()
	for _, st := range []Status{StatusPending, StatusUnknown} {
		for k, v := c.Seek([]byte{byte(st)}); k != nil && k[0] == byte(st); k, v = c.Next() {
			open = append(open, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		}
	}
	if err := a.tx.DeleteBucket(bucketStatus); err != nil {
		return Result{}, fmt.Errorf("schema %s: %w", version, err)
	}
	status, err := a.tx.CreateBucket(bucketStatus)
	if err != nil {
		return Result{}, fmt.Errorf("schema %s: %w", version, err)
	}
	status.FillPercent = tailFill
	for _, kv := range open {
		if err := status.Put(kv[0], kv[1]); err != nil {
			return Result{}, err
		}
	}
	// idx_rrn keeps its entries: ByRRN reads the index first, and they name
	// the records they always did.
	a.lean = true
	return Result{}, a.tx.Bucket(bucketMeta).Put(metaSchema, []byte(schemaLean))
}

// maxSeqRRN bounds the seqs whose RRN is their own twelve digits.
const maxSeqRRN = 1_000_000_000_000

// seqRRN is the RRN Apply gives the record at seq (identify).
func seqRRN(seq uint64) string { return fmt.Sprintf("%012d", seq%maxSeqRRN) }

// ownRRN reports whether rrn is the record at seq's own RRN, which the lean
// layout does not index.
func ownRRN(rrn string, seq uint64) bool {
	return seq < maxSeqRRN && len(rrn) == 12 && rrn == seqRRN(seq)
}

// lookupRRN returns the seq of the first transaction with rrn, or nil: the
// index, else the record whose own RRN it is.
func lookupRRN(tx *bolt.Tx, rrn string) ([]byte, error) {
	if seq := tx.Bucket(bucketRRN).Get([]byte(rrn)); seq != nil {
		return seq, nil
	}
	if len(rrn) != 12 {
		return nil, nil
	}
	n, err := strconv.ParseUint(rrn, 10, 64)
	if err != nil || !ownRRN(rrn, n) {
		return nil, nil
	}
	seq := seqKey(n)
	t, err := getTxn(tx, seq)
	if err != nil || t == nil || t.RRN != rrn {
		return nil, err
	}
	return seq, nil
}

// dayRange is the range of seqs (from, to) that holds day's transactions:
// after the cutover that closed the day before it, before the one that
// closed it (to 0: none yet). Every day that has transactions has its
// record (openDay and cutover write it; files from before day records are
// schema 3 and do not open), so a day without one is the empty range
// (0, 1).
func dayRange(tx *bolt.Tx, day string) (from, to uint64, err error) {
	c := tx.Bucket(bucketDays).Cursor()
	k, v := c.Seek([]byte(day))
	if k == nil || string(k) != day {
		return 0, 1, nil
	}
	d, err := getDay(v)
	if err != nil {
		return 0, 0, err
	}
	to = d.CutoverIndex
	for k, v = c.Prev(); k != nil; k, v = c.Prev() {
		d, err := getDay(v)
		if err != nil {
			return 0, 0, err
		}
		if d.CutoverIndex > 0 {
			return d.CutoverIndex, to, nil
		}
	}
	return 0, to, nil
}

// seqWalk walks the records whose seq is in (after, to) (to 0: no end),
// in seq order, until fn returns false or an error.
func seqWalk(tx *bolt.Tx, after, to uint64, fn func(seq []byte, t *Txn) (bool, error)) error {
	c := tx.Bucket(bucketTxns).Cursor()
	k, v := c.Seek(seqKey(after + 1))
	for ; k != nil; k, v = c.Next() {
		if to > 0 && binary.BigEndian.Uint64(k) >= to {
			return nil
		}
		t, err := decodeTxn(v)
		if err != nil {
			return fmt.Errorf("record %x: %w", k, err)
		}
		more, err := fn(k, t)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Schema is the state file's schema version ("4", or "5": the lean
// layout) and the versions this binary reads and writes.
func (s *Store) Schema() (current string, known []string, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		current = string(tx.Bucket(bucketMeta).Get(metaSchema))
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("store: schema: %w", err)
	}
	return current, []string{schemaVersion, schemaLean}, nil
}
