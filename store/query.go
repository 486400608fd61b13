package store

import (
	"crypto/sha256"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// view runs fn in a read transaction on the current file.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return fmt.Errorf("store: %s is closed", s.path)
	}
	return s.db.View(fn)
}

// Get returns the transaction with identity id.
func (s *Store) Get(id string) (*Txn, bool, error) {
	var t *Txn
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTxns).Get([]byte(id))
		if v == nil {
			return nil
		}
		var err error
		t, err = unmarshalTxn(v)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: get %s: %w", id, err)
	}
	return t, t != nil, nil
}

// ByRRN returns the transaction with retrieval reference number rrn.
func (s *Store) ByRRN(rrn string) (*Txn, bool, error) {
	var id string
	err := s.view(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketRRN).Get([]byte(rrn)))
		return nil
	})
	if err != nil || id == "" {
		return nil, false, err
	}
	return s.Get(id)
}

// Pending lists INTENTs that have no OUTCOME yet, in id order.
func (s *Store) Pending() ([]*Txn, error) {
	var out []*Txn
	err := s.view(func(tx *bolt.Tx) error {
		txns := tx.Bucket(bucketTxns)
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
			t, err := unmarshalTxn(txns.Get(k))
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending: %w", err)
	}
	return out, nil
}

// Query selects transactions for List. Empty fields do not filter.
type Query struct {
	Day      string
	Merchant string
	Terminal string
	Status   Status // 0: any
	Limit    int    // default 100
	Cursor   string // the id after which to continue
}

// List returns up to q.Limit transactions matching q in id order, and the
// cursor for the next page ("" at the end).
func (s *Store) List(q Query) ([]*Txn, string, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var out []*Txn
	var next string
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTxns).Cursor()
		k, v := c.First()
		if q.Cursor != "" {
			k, v = c.Seek([]byte(q.Cursor))
			if k != nil && string(k) == q.Cursor {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			t, err := unmarshalTxn(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if !q.match(t) {
				continue
			}
			if len(out) == q.Limit {
				next = out[len(out)-1].ID
				return nil
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: list: %w", err)
	}
	return out, next, nil
}

func (q Query) match(t *Txn) bool {
	return (q.Day == "" || t.Day == q.Day) &&
		(q.Merchant == "" || t.MerchantID == q.Merchant) &&
		(q.Terminal == "" || t.TerminalID == q.Terminal) &&
		(q.Status == 0 || t.Status == q.Status)
}

// Sum is a count and an amount in minor units.
type Sum struct{ Count, Amount int64 }

// Totals are the approved, not reversed transactions by kind; the acquirer
// simulator reports the same shape, so the two compare directly.
type Totals struct{ Net map[string]Sum }

// Totals scans every transaction.
func (s *Store) Totals() (Totals, error) {
	out := Totals{Net: map[string]Sum{}}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTxns).ForEach(func(k, v []byte) error {
			t, err := unmarshalTxn(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if t.Status != StatusApproved || t.Type == TypeReversal || t.Type == TypeBalance {
				return nil
			}
			sum := out.Net[t.Type.String()]
			sum.Count++
			sum.Amount += t.Amount
			out.Net[t.Type.String()] = sum
			return nil
		})
	})
	if err != nil {
		return Totals{}, fmt.Errorf("store: totals: %w", err)
	}
	return out, nil
}

// Hash digests every bucket's keys and values in order. Replicas that
// applied the same log have the same hash.
func (s *Store) Hash() ([]byte, error) {
	h := sha256.New()
	err := s.view(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			h.Write(name)
			err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				writeLen(h, k)
				writeLen(h, v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: hash: %w", err)
	}
	return h.Sum(nil), nil
}

func writeLen(h interface{ Write([]byte) (int, error) }, b []byte) {
	var n [8]byte
	l := len(b)
	for i := range n {
		n[i] = byte(l >> (8 * i))
	}
	h.Write(n[:])
	h.Write(b)
}
