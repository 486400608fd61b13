package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Terminal returns the registry's record of terminal id; ok false when it
// is not registered. The pipeline asks it for every request it admits: one
// read transaction and one key.
func (s *Store) Terminal(id string) (t Terminal, ok bool, err error) {
	// Every request reads this: it must not commit deferred batches (a
	// commit per request), and need not, since a registry change is never
	// deferred.
	err = s.viewCommitted(func(tx *bolt.Tx) error {
		rec, err := decodeTerminal(id, tx.Bucket(bucketTerminals).Get([]byte(id)))
		if rec != nil {
			t, ok = *rec, true
		}
		return err
	})
	if err != nil {
		return Terminal{}, false, fmt.Errorf("store: terminal %s: %w", id, err)
	}
	return t, ok, nil
}

// TerminalQuery selects registered terminals: those after After (a
// cursor: the last id of the previous page), of Store and Merchant when
// set, at most Limit (0: all).
type TerminalQuery struct {
	After           string
	Store, Merchant string
	Limit           int
}

// Terminals lists the registered terminals q selects, by id, and the
// cursor of the next page ("" when this is the last).
func (s *Store) Terminals(q TerminalQuery) ([]Terminal, string, error) {
	var out []Terminal
	next := ""
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTerminals).Cursor()
		k, v := c.First()
		if q.After != "" {
			k, v = c.Seek([]byte(q.After))
			if k != nil && bytes.Equal(k, []byte(q.After)) {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			t, err := decodeTerminal(string(k), v)
			if err != nil {
				return err
			}
			if (q.Store != "" && t.Store != q.Store) || (q.Merchant != "" && t.Merchant != q.Merchant) {
				continue
			}
			if q.Limit > 0 && len(out) == q.Limit {
				next = out[len(out)-1].ID
				return nil
			}
			out = append(out, *t)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: terminals: %w", err)
	}
	return out, next, nil
}
