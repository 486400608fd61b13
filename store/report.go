package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	bolt "go.etcd.io/bbolt"
)

// Sum is a count and an amount in minor units.
type Sum struct{ Count, Amount int64 }

// Totals is the money that moved: approved and not reversed transactions,
// by kind ("purchase", "refund", "cashback", "preauth", "completion").
// Balance inquiries and reversals are no kind: a reversed approval simply
// drops out. A kind with nothing in it is absent, so Totals compare
// directly with the acquirer simulator's, which has the same shape.
type Totals struct{ Net map[string]Sum }

// Totals sums every approved transaction. It walks every record (the lean
// layout indexes no final status): O(transactions) per call, fine for
// reports and tests; a per-day running total kept by Apply is the step
// after.
func (s *Store) Totals() (Totals, error) {
	out := Totals{Net: map[string]Sum{}}
	err := s.view(func(tx *bolt.Tx) error {
		err := seqWalk(tx, 0, 0, func(_ []byte, t *Txn) (bool, error) {
			out.add(t)
			return true, nil
		})
		if err != nil {
			return err
		}
		return out.takeBack(tx)
	})
	if err != nil {
		return Totals{}, fmt.Errorf("store: totals: %w", err)
	}
	return out, nil
}

// takeBack takes out of the net the approvals that a reversal took back
// after their day was settled (bucketReversedLate): they stay approved in
// their frozen day, but the money went back, as the acquirer's totals say,
// and the reversal settles as a row of its own day.
func (tot Totals) takeBack(tx *bolt.Tx) error {
	ids := tx.Bucket(bucketIDs)
	return tx.Bucket(bucketReversedLate).ForEach(func(id, _ []byte) error {
		seq := ids.Get(id)
		if seq == nil {
			return fmt.Errorf("%w: late reversal names missing original %s", ErrCorrupt, id)
		}
		o, err := getTxn(tx, seq)
		if err != nil || o == nil || o.Status != StatusApproved || !o.Type.inNet() {
			return err
		}
		kind := o.Type.String()
		sum := tot.Net[kind]
		sum.Count--
		sum.Amount -= o.Amount
		if sum == (Sum{}) {
			delete(tot.Net, kind)
		} else {
			tot.Net[kind] = sum
		}
		return nil
	})
}

// add counts t if it moved money.
func (tot Totals) add(t *Txn) {
	if t.Status != StatusApproved || !t.Type.inNet() {
		return
	}
	kind := t.Type.String()
	sum := tot.Net[kind]
	sum.Count++
	sum.Amount += t.Amount
	tot.Net[kind] = sum
}

// Hash is a SHA-256 digest of the whole state: every bucket in bbolt's
// (name) order, each bucket's name and then every key and value in key
// order, each tagged and length-prefixed so that no two different states
// give the same byte stream. Replicas that applied the same log have equal hashes.
func (s *Store) Hash() ([]byte, error) {
	h := sha256.New()
	err := s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h.Write([]byte{'b'})
			writeField(h, name)
			return b.ForEach(func(k, v []byte) error {
				h.Write([]byte{'k'})
				writeField(h, k)
				writeField(h, v)
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: hash: %w", err)
	}
	return h.Sum(nil), nil
}

func writeField(h hash.Hash, b []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	h.Write(b)
}
