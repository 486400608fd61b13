package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SAFQueue lists up to limit entries owed to acquirer with a seq above
// after, in send order (limit <= 0: all of them).
func (s *Store) SAFQueue(acquirer string, after uint64, limit int) ([]SAFEntry, error) {
	var out []SAFEntry
	prefix := append([]byte(acquirer), indexSep)
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSAF).Cursor()
		for k, v := c.Seek(safKey(acquirer, after+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			e, err := decodeSAFEntry(v)
			if err != nil {
				return fmt.Errorf("saf entry %s: %w", k, err)
			}
			out = append(out, e)
			if limit > 0 && len(out) >= limit {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: saf queue %s: %w", acquirer, err)
	}
	return out, nil
}

// SAFStat is one acquirer's queue: how many entries, and the CreatedAt
// (unix nanos) of the oldest.
type SAFStat struct {
	Depth  int
	Oldest int64
}

// SAFStats is every non-empty queue, by acquirer. It walks the queue, which
// holds only what is owed right now (small unless an acquirer is down).
func (s *Store) SAFStats() (map[string]SAFStat, error) {
	out := map[string]SAFStat{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSAF).ForEach(func(k, v []byte) error {
			e, err := decodeSAFEntry(v)
			if err != nil {
				return fmt.Errorf("saf entry %s: %w", k, err)
			}
			st := out[e.Acquirer]
			if st.Depth == 0 || e.CreatedAt < st.Oldest {
				st.Oldest = e.CreatedAt
			}
			st.Depth++
			out[e.Acquirer] = st
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: saf stats: %w", err)
	}
	return out, nil
}

// StandInCard is the count and amount of stand-in approvals of one card
// (by its keyed PAN hash) in business day day.
func (s *Store) StandInCard(day string, panHash []byte) (Sum, error) {
	return s.sum(bucketStandInCard, standInCardKey(day, panHash))
}

// StandInOpen is the count and amount of an acquirer's stand-in approvals
// whose advices it has not acknowledged yet.
func (s *Store) StandInOpen(acquirer string) (Sum, error) {
	return s.sum(bucketStandInOpen, []byte(acquirer))
}

func (s *Store) sum(bucket, key []byte) (Sum, error) {
	var out Sum
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		out, err = decodeSum(tx.Bucket(bucket).Get(key))
		return err
	})
	if err != nil {
		return Sum{}, fmt.Errorf("store: %s: %w", bucket, err)
	}
	return out, nil
}
