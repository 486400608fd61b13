package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Queries run in read transactions: safe concurrently with ApplyBatch, and
// every Txn returned is a copy that outlives the transaction.

// Get returns the transaction with identity id.
func (s *Store) Get(id string) (*Txn, bool, error) {
	var t *Txn
	err := s.view(func(tx *bolt.Tx) error {
		seq := tx.Bucket(bucketIDs).Get([]byte(id))
		if seq == nil {
			return nil
		}
		var err error
		if t, err = getTxn(tx, seq); err == nil && t == nil {
			err = fmt.Errorf("%w: id index names a missing record", ErrCorrupt)
		}
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: get %s: %w", id, err)
	}
	return t, t != nil, nil
}

// ByRRN returns the transaction with retrieval reference number rrn (the
// first one recorded, should an acquirer ever repeat an RRN).
func (s *Store) ByRRN(rrn string) (*Txn, bool, error) {
	var t *Txn
	err := s.view(func(tx *bolt.Tx) error {
		seq, err := lookupRRN(tx, rrn)
		if err != nil || seq == nil {
			return err
		}
		t, err = getTxn(tx, seq)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: by RRN %s: %w", rrn, err)
	}
	return t, t != nil, nil
}

// Pending lists the INTENTs that have no OUTCOME yet, oldest first.
func (s *Store) Pending() ([]*Txn, error) {
	var out []*Txn
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketStatus).Cursor()
		pending := byte(StatusPending)
		for k, seq := c.Seek([]byte{pending}); k != nil && k[0] == pending; k, seq = c.Next() {
			t, err := getTxn(tx, seq)
			if err == nil && t == nil {
				err = fmt.Errorf("%w: status index names missing record %x", ErrCorrupt, seq)
			}
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending: %w", err)
	}
	return out, nil
}

// getTxn decodes the record at seq; nil if there is none.
func getTxn(tx *bolt.Tx, seq []byte) (*Txn, error) {
	v := tx.Bucket(bucketTxns).Get(seq)
	if v == nil {
		return nil, nil
	}
	t, err := decodeTxn(v)
	if err != nil {
		return nil, fmt.Errorf("record %x: %w", seq, err)
	}
	return t, nil
}

// ErrBadCursor: a List cursor that is not one List returned for this query.
var ErrBadCursor = errors.New("store: bad cursor")

// Query selects transactions for List. Zero fields do not filter; the set
// fields must all match.
//
// RRN, Merchant, Day, Status and Terminal narrow the walk (an index or a
// range of records); the other fields only filter what it yields, so a
// query naming none of the first five walks every transaction (still one
// page at a time), and so does a merchant's without a day, or a final
// status's without a terminal, until its page is full.
type Query struct {
	Terminal string
	Merchant string
	Day      string  // business day YYYYMMDD
	Status   *Status // nil: any
	RRN      string

	RC        string // response code, e.g. "05"
	AuthCode  string
	BIN       string // a prefix of the stored BIN: "4111" matches BIN "411111"
	Last4     string
	Acquirer  string
	MinAmount *int64    // inclusive, minor units; nil: no bound
	MaxAmount *int64    // inclusive
	From, To  time.Time // CreatedAt in [From, To); zero: no bound

	Limit  int    // page size: 0 means DefaultListLimit, capped at MaxListLimit
	Cursor string // "" for the first page, else the cursor List returned
}

// Page sizes for List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// List returns up to q.Limit matching transactions and the cursor of the
// next page ("" when there is none). It walks the narrowest set the query
// names: the RRN's record; a day's range of records (for a merchant too);
// every record for a merchant; the open statuses' index; every record for
// a final status; a terminal's identities (also with a final status).
// Order: by arrival, except by id for a terminal (or no filter). The
// cursor is opaque.
func (s *Store) List(q Query) ([]*Txn, string, error) {
	q.Limit = min(max(q.Limit, 0), MaxListLimit)
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	after, err := hex.DecodeString(q.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadCursor, err)
	}
	var out []*Txn
	var next []byte
	err = s.view(func(tx *bolt.Tx) error {
		out, next, err = q.scan(tx, after)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: list: %w", err)
	}
	return out, hex.EncodeToString(next), nil
}

// scan walks the chosen index from after; next is the key of the last
// transaction returned when more may follow.
func (q Query) scan(tx *bolt.Tx, after []byte) (out []*Txn, next []byte, err error) {
	if q.RRN != "" {
		return q.byRRN(tx)
	}
	if walk, prefix, from, to, err := q.records(tx); err != nil || walk {
		if err != nil {
			return nil, nil, err
		}
		return q.scanRecords(tx, after, prefix, from, to)
	}
	bucket, prefix := q.index()
	c := tx.Bucket(bucket).Cursor()
	k, v := c.Seek(prefix)
	if len(after) > 0 {
		if !bytes.HasPrefix(after, prefix) {
			return nil, nil, fmt.Errorf("%w: it does not belong to this query", ErrBadCursor)
		}
		if k, v = c.Seek(after); bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		t, err := q.load(tx, bucket, v)
		if err != nil {
			return nil, nil, err
		}
		if !q.match(t) {
			continue
		}
		if len(out) == q.Limit {
			return out, next, nil
		}
		out, next = append(out, t), append(next[:0], k...)
	}
	return out, nil, nil
}

// records reports whether the query walks records rather than an index
// (layout.go): a merchant's, a day's, or a final status's (without a
// terminal), with the prefix its cursors start with and the range of seqs
// to walk. The cursors are the keys the indexes had (merchant|day|seq,
// day|seq, status+seq), so that a cursor handed out before the lean layout
// still reads on.
func (q Query) records(tx *bolt.Tx) (walk bool, prefix []byte, from, to uint64, err error) {
	switch {
	case q.Merchant != "" && q.Day != "":
		from, to, err = dayRange(tx, q.Day)
		return true, joinKey(q.Merchant, q.Day, ""), from, to, err
	case q.Merchant != "":
		return true, joinKey(q.Merchant, ""), 0, 0, nil
	case q.Day != "":
		from, to, err = dayRange(tx, q.Day)
		return true, joinKey(q.Day, ""), from, to, err
	case q.Status != nil && !q.Status.open() && q.Terminal == "":
		return true, []byte{byte(*q.Status)}, 0, 0, nil
	}
	return false, nil, 0, 0, nil
}

// scanRecords walks the records with seq in (from, to) after the cursor
// (prefix, for a merchant without a day the record's day and '|', then the
// seq); next is the cursor of the last one returned when more may follow.
func (q Query) scanRecords(tx *bolt.Tx, after, prefix []byte, from, to uint64) (out []*Txn, next []byte, err error) {
	if len(after) > 0 {
		if len(after) < len(prefix)+8 || !bytes.HasPrefix(after, prefix) {
			return nil, nil, fmt.Errorf("%w: it does not belong to this query", ErrBadCursor)
		}
		from = max(from, binary.BigEndian.Uint64(after[len(after)-8:]))
	}
	more := false
	err = seqWalk(tx, from, to, func(seq []byte, t *Txn) (bool, error) {
		if !q.match(t) {
			return true, nil
		}
		if len(out) == q.Limit {
			more = true
			return false, nil
		}
		next = append(next[:0], prefix...)
		if q.Merchant != "" && q.Day == "" {
			next = append(append(next, t.Day...), indexSep)
		}
		out, next = append(out, t), append(next, seq...)
		return true, nil
	})
	if err != nil || !more {
		return out, nil, err
	}
	return out, next, nil
}

// index picks the bucket to walk and the key prefix within it.
func (q Query) index() (bucket, prefix []byte) {
	switch {
	case q.Status != nil && q.Status.open():
		return bucketStatus, []byte{byte(*q.Status)}
	}
	// Ids start with the terminal id: its transactions are one prefix.
	return bucketIDs, []byte(q.Terminal)
}

// load returns the transaction an index entry points at.
func (q Query) load(tx *bolt.Tx, bucket, v []byte) (*Txn, error) {
	t, err := getTxn(tx, v)
	if err == nil && t == nil {
		err = fmt.Errorf("%w: index %s names missing record %x", ErrCorrupt, bucket, v)
	}
	return t, err
}

func (q Query) byRRN(tx *bolt.Tx) ([]*Txn, []byte, error) {
	seq, err := lookupRRN(tx, q.RRN)
	if err != nil || seq == nil {
		return nil, nil, err
	}
	t, err := getTxn(tx, seq)
	if err != nil || t == nil || !q.match(t) {
		return nil, nil, err
	}
	return []*Txn{t}, nil, nil
}

func (q Query) match(t *Txn) bool {
	return (q.Terminal == "" || t.TerminalID == q.Terminal) &&
		(q.Merchant == "" || t.MerchantID == q.Merchant) &&
		(q.Day == "" || t.Day == q.Day) &&
		(q.Status == nil || t.Status == *q.Status) &&
		(q.RRN == "" || t.RRN == q.RRN) &&
		(q.RC == "" || t.RC == q.RC) &&
		(q.AuthCode == "" || t.AuthCode == q.AuthCode) &&
		strings.HasPrefix(t.BIN, q.BIN) &&
		(q.Last4 == "" || t.Last4 == q.Last4) &&
		(q.Acquirer == "" || t.Acquirer == q.Acquirer) &&
		(q.MinAmount == nil || t.Amount >= *q.MinAmount) &&
		(q.MaxAmount == nil || t.Amount <= *q.MaxAmount) &&
		(q.From.IsZero() || t.CreatedAt >= q.From.UnixNano()) &&
		(q.To.IsZero() || t.CreatedAt < q.To.UnixNano())
}
