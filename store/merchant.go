package store

import (
	"encoding/binary"
	"fmt"
	"regexp"

	bolt "go.etcd.io/bbolt"
)

// Card-not-present merchants (node/payments). A merchant is an online shop
// that calls the payments API with a named API key; the cluster gives it a
// virtual terminal (DE41) and a merchant number (DE42) from the log, so its
// payments reach the pipeline as a register's requests would.

// OpMerchantAdd records a new merchant with its first API key.
const OpMerchantAdd Op = 20

// APIKey is a merchant's named key: only its SHA-256 is kept.
type APIKey struct {
	Name string
	Hash []byte // SHA-256 of the key (the keys are random: no salt needed)
}

// Merchant is a card-not-present merchant.
type Merchant struct {
	ID       string // the operator's name for it
	Name     string // shown to customers
	Keys     []APIKey
	Terminal string // DE41 of its virtual terminal: "W" + 7 digits, given by Apply
	MID      string // DE42: "CNP" + 12 digits, given by Apply
	At       int64  // unix nanos, stamped by the leader
}

var merchantIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ValidMerchantID reports whether id may name a merchant.
func ValidMerchantID(id string) bool { return merchantIDPattern.MatchString(id) }

// MerchantAddCmd encodes OpMerchantAdd. Apply ignores Terminal and MID.
func MerchantAddCmd(m Merchant) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpMerchantAdd)}}
	appendMerchant(&w, &m)
	return w.b
}

func appendMerchant(w *writer, m *Merchant) {
	w.str(m.ID)
	w.str(m.Name)
	w.int(int64(len(m.Keys)))
	for _, k := range m.Keys {
		w.str(k.Name)
		w.bytes(k.Hash)
	}
	w.str(m.Terminal)
	w.str(m.MID)
	w.int(m.At)
}

func readMerchant(r *reader) *Merchant {
	m := &Merchant{ID: r.str(), Name: r.str()}
	for n := r.count(); n > 0; n-- {
		m.Keys = append(m.Keys, APIKey{Name: r.str(), Hash: r.bytes()})
	}
	m.Terminal, m.MID, m.At = r.str(), r.str(), r.int()
	return m
}

// merchantAdd records m, giving it the next virtual terminal. A merchant id
// or key already recorded is refused (ErrConflict): the operator picks
// another.
func (a *applier) merchantAdd(m *Merchant) (Result, error) {
	switch {
	case !ValidMerchantID(m.ID) || len(m.Name) > 64:
		return Result{Err: fmt.Errorf("%w: merchant id %q: want 1-32 of A-Z a-z 0-9 _ -, a name up to 64 bytes", ErrInvalid, m.ID)}, nil
	case len(m.Keys) != 1 || len(m.Keys[0].Hash) != 32 || len(m.Keys[0].Name) > maxKeyField:
		return Result{Err: fmt.Errorf("%w: merchant %s: one API key (a SHA-256 and a short name)", ErrInvalid, m.ID)}, nil
	}
	b := a.tx.Bucket(bucketMerchants)
	if b.Get([]byte(m.ID)) != nil {
		return Result{Err: fmt.Errorf("%w: merchant %s exists", ErrConflict, m.ID)}, nil
	}
	keys := a.tx.Bucket(bucketMerchantKeys)
	if keys.Get(m.Keys[0].Hash) != nil {
		return Result{Err: fmt.Errorf("%w: that API key is in use", ErrConflict)}, nil
	}
	n, err := a.next(bucketCNPSeq, []byte("merchant"))
	if err != nil {
		return Result{}, err
	}
	m.Terminal, m.MID = fmt.Sprintf("W%07d", n%10_000_000), fmt.Sprintf("CNP%012d", n)
	w := writer{}
	appendMerchant(&w, m)
	if err := b.Put([]byte(m.ID), w.b); err != nil {
		return Result{}, err
	}
	if err := keys.Put(m.Keys[0].Hash, []byte(m.ID)); err != nil {
		return Result{}, err
	}
	// Its virtual terminal is registered by the same command: the pipeline
	// admits only registered terminals, and a merchant whose payments are
	// refused until an operator remembers a second step is a trap.
	t := Terminal{ID: m.Terminal, Merchant: m.MID, Store: "cnp-" + m.ID, Added: m.At, Changed: m.At}
	if err := a.tx.Bucket(bucketTerminals).Put([]byte(t.ID), appendTerminal(nil, &t)); err != nil {
		return Result{}, err
	}
	return Result{Merchant: m}, nil
}

// next increments and returns the counter key of bucket (1 the first time).
func (a *applier) next(bucket, key []byte) (uint64, error) {
	b := a.tx.Bucket(bucket)
	var n uint64
	if v := b.Get(key); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, b.Put(key, binary.BigEndian.AppendUint64(nil, n))
}

func getMerchant(tx *bolt.Tx, id string) (*Merchant, error) {
	v := tx.Bucket(bucketMerchants).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	r := reader{b: v}
	m := readMerchant(&r)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("merchant %s: %w", id, err)
	}
	return m, nil
}

// Merchant returns the merchant id (nil if there is none).
func (s *Store) Merchant(id string) (*Merchant, error) {
	var m *Merchant
	err := s.view(func(tx *bolt.Tx) (err error) {
		m, err = getMerchant(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: merchant %s: %w", id, err)
	}
	return m, nil
}

// MerchantByKey returns the merchant whose API key has SHA-256 hash, and
// the key's name (nil if no merchant has it).
func (s *Store) MerchantByKey(hash []byte) (*Merchant, string, error) {
	var m *Merchant
	err := s.view(func(tx *bolt.Tx) (err error) {
		id := tx.Bucket(bucketMerchantKeys).Get(hash)
		if id == nil {
			return nil
		}
		m, err = getMerchant(tx, string(id))
		return err
	})
	if err != nil || m == nil {
		return nil, "", err
	}
	for _, k := range m.Keys {
		if string(k.Hash) == string(hash) {
			return m, k.Name, nil
		}
	}
	return nil, "", fmt.Errorf("store: %w: key index names merchant %s, which lacks the key", ErrCorrupt, m.ID)
}

// Merchants lists every merchant in id order.
func (s *Store) Merchants() ([]*Merchant, error) {
	var out []*Merchant
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMerchants).ForEach(func(k, v []byte) error {
			r := reader{b: v}
			m := readMerchant(&r)
			if err := r.done(); err != nil {
				return fmt.Errorf("merchant %s: %w", k, err)
			}
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: merchants: %w", err)
	}
	return out, nil
}
