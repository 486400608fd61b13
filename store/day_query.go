package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// OpenDay is the open business day ("" before the first one opens).
func (s *Store) OpenDay() (string, error) {
	var day string
	err := s.view(func(tx *bolt.Tx) error {
		day = string(tx.Bucket(bucketMeta).Get(metaDay))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: open day: %w", err)
	}
	return day, nil
}

// PendingBefore reports whether a transaction with a seq below index is
// still pending: a day closed by the cutover at index cannot settle yet.
func (s *Store) PendingBefore(index uint64) (bool, error) {
	var busy bool
	err := s.view(func(tx *bolt.Tx) error {
		busy = (&applier{tx: tx}).pendingBefore(index)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: pending: %w", err)
	}
	return busy, nil
}

// Day returns the record of business day day; nil if there is none.
func (s *Store) Day(day string) (*Day, error) {
	var d *Day
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		d, err = getDay(tx.Bucket(bucketDays).Get([]byte(day)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: day %s: %w", day, err)
	}
	return d, nil
}

// Days lists every business day, oldest first.
func (s *Store) Days() ([]*Day, error) {
	var out []*Day
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDays).ForEach(func(k, v []byte) error {
			d, err := getDay(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: days: %w", err)
	}
	return out, nil
}

// DayTxn is one transaction of a day, with the original it names (a
// reversal's or a completion's) when that is recorded.
type DayTxn struct {
	Seq      uint64
	Txn      *Txn
	Original *Txn
	// TakesBack: Txn is the approved reversal that took back Original, an
	// approval of a day settled before it (which stays approved there).
	TakesBack bool
}

// dayChunk is how many transactions EachInDay reads per read
// transaction: a walk of a million-row day must not hold one read
// transaction open for seconds, which would hold back bbolt's remap (and
// with it every apply) once the file outgrows its mapping.
const dayChunk = 4096

// EachInDay calls fn for every transaction of day in seq order, with the
// original each names. It reads in chunks of short read transactions, so
// the walk is one consistent state only for a settled day, whose records
// are frozen (day.go): the settlement files, the reason it exists. It
// stops early with ctx's error.
func (s *Store) EachInDay(ctx context.Context, day string, fn func(DayTxn) error) error {
	var after []byte // the seq of the last record read
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []DayTxn
		err := s.view(func(tx *bolt.Tx) error {
			var err error
			batch, after, err = dayTxns(tx, day, after, dayChunk)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: day %s: %w", day, err)
		}
		for _, dt := range batch {
			if err := fn(dt); err != nil {
				return err
			}
		}
		if len(batch) < dayChunk {
			return nil
		}
	}
}

// dayTxns reads up to limit transactions of day after the one with seq
// after (nil: from the start) and returns the seq of the last one read. It
// walks the day's range of records (layout.go).
func dayTxns(tx *bolt.Tx, day string, after []byte, limit int) ([]DayTxn, []byte, error) {
	from, to, err := dayRange(tx, day)
	if err != nil {
		return nil, nil, err
	}
	if after != nil {
		from = max(from, binary.BigEndian.Uint64(after))
	}
	ids, late, txns := tx.Bucket(bucketIDs), tx.Bucket(bucketReversedLate), tx.Bucket(bucketTxns)
	var out []DayTxn
	err = seqWalk(tx, from, to, func(seq []byte, t *Txn) (bool, error) {
		if len(out) == limit {
			return false, nil
		}
		after = bytes.Clone(seq)
		if t.Day != day {
			return true, nil
		}
		dt := DayTxn{Seq: binary.BigEndian.Uint64(seq), Txn: t}
		if t.OriginalID != "" {
			if t.Type == TypeReversal {
				dt.TakesBack = string(late.Get([]byte(t.OriginalID))) == t.ID
			}
			if oseq := ids.Get([]byte(t.OriginalID)); oseq != nil {
				var err error
				if dt.Original, err = decodeTxn(txns.Get(oseq)); err != nil {
					return false, fmt.Errorf("original %s: %w", t.OriginalID, err)
				}
			}
		}
		out = append(out, dt)
		return true, nil
	})
	return out, after, err
}

// eachInDay calls fn for every transaction of day, in seq order.
func eachInDay(tx *bolt.Tx, day string, fn func(seq []byte, t *Txn) error) error {
	from, to, err := dayRange(tx, day)
	if err != nil {
		return err
	}
	return seqWalk(tx, from, to, func(seq []byte, t *Txn) (bool, error) {
		if t.Day != day {
			return true, nil
		}
		return true, fn(seq, t)
	})
}

// Batch returns batch number of terminal (0: the open one). An open batch
// carries the cluster's running totals. ok is false for a batch number
// beyond the open one.
func (s *Store) Batch(terminal string, number uint64) (b *Batch, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		open, err := openBatchIn(tx.Bucket(bucketBatchOpen).Get([]byte(terminal)))
		if err != nil {
			return err
		}
		if number == 0 {
			number = open
		}
		if number > open {
			return nil
		}
		key := batchKey(terminal, number)
		b, err = batchIn(tx.Bucket(bucketBatches).Get(key), tx.Bucket(bucketBatchTotals).Get(key), terminal, number)
		if err == nil && b.Status == BatchOpen && number < open {
			// A batch before the open one without a record closed
			// before records existed: cannot happen in schema 3.
			err = fmt.Errorf("%w: closed batch %s/%d has no record", ErrCorrupt, terminal, number)
		}
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: batch %s/%d: %w", terminal, number, err)
	}
	return b, b != nil, nil
}

// Batches lists terminal's batches, oldest first, the open one last.
func (s *Store) Batches(terminal string) ([]*Batch, error) {
	open, _, err := s.Batch(terminal, 0)
	if err != nil {
		return nil, err
	}
	var out []*Batch
	err = s.view(func(tx *bolt.Tx) error {
		prefix := append([]byte(terminal), indexSep)
		c := tx.Bucket(bucketBatches).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			b, err := decodeBatch(v)
			if err != nil {
				return fmt.Errorf("batch %x: %w", k, err)
			}
			if b.Number != open.Number {
				out = append(out, b)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: batches of %s: %w", terminal, err)
	}
	return append(out, open), nil
}

// BatchUploads lists what the register uploaded (0320) for a batch, by
// original identity.
func (s *Store) BatchUploads(terminal string, number uint64) ([]Upload, error) {
	var out []Upload
	err := s.view(func(tx *bolt.Tx) error {
		prefix := append(batchKey(terminal, number), indexSep)
		c := tx.Bucket(bucketBatchUpload).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			u, err := decodeUpload(v)
			if err != nil {
				return fmt.Errorf("upload %x: %w", k, err)
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: uploads of %s/%d: %w", terminal, number, err)
	}
	return out, nil
}
