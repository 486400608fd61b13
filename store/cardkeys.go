package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Card keys (DESIGN.md, "Card keys"): which encryption key seals is
// replicated, so every node seals under the same one and a new active
// carries on the re-seal where its predecessor stopped.
const (
	// OpCardKey makes a card key current, retires one, or starts the
	// re-seal again.
	OpCardKey Op = 14
	// OpReseal replaces sealed card numbers by the same numbers sealed
	// under the current key: one batch of the re-seal.
	OpReseal Op = 15
)

// KeyAction is what an OpCardKey command does.
type KeyAction uint8

// Key actions.
const (
	// KeyRotate makes KeyCmd.ID current and starts the re-seal.
	KeyRotate KeyAction = 1
	// KeyRetire retires KeyCmd.ID: refused while a record is sealed
	// under it (or it is current).
	KeyRetire KeyAction = 2
	// KeyReseal starts the re-seal again from the first record (a record
	// sealed under an older key committed after the re-seal passed).
	KeyReseal KeyAction = 3
)

// MaxResealBatch bounds the records of one OpReseal command.
const MaxResealBatch = 512

// ErrStaleReseal: a re-seal batch that does not continue from the
// replicated cursor (a predecessor's, or a repeat): it changes nothing.
var ErrStaleReseal = errors.New("store: re-seal batch does not continue the recorded one")

// KeyCmd is an OpCardKey command.
type KeyCmd struct {
	Action KeyAction
	ID     uint8
	// Check and HashCheck are the check values (Vault.Check, HashCheck) of
	// the key and of the hash key on the node that proposed a rotation:
	// a node holding another key under the id notices (KeyState).
	Check, HashCheck string
	At               int64 // stamped by the leader
}

// KeyState is the replicated state of the card keys.
type KeyState struct {
	// Current is the key that seals; 0 until the first rotation, when key
	// 1 (card_key_file) seals.
	Current uint8
	// Check, HashCheck: the check values the last rotation recorded.
	Check, HashCheck string
	Retired          []uint8 // ascending
	// Resealing: a re-seal is under way; Cursor is the seq of the first
	// record it has not looked at yet.
	Resealing bool
	Cursor    uint64
	RotatedAt int64 // the leader's time of the last rotation
}

func (k KeyState) current() uint8 {
	if k.Current == 0 {
		return legacyKeyID
	}
	return k.Current
}

// Sealing is the id of the key that seals.
func (k KeyState) Sealing() uint8 { return k.current() }

func (k KeyState) retired(id uint8) bool { return slices.Contains(k.Retired, id) }

// ResealItem is one record of a re-seal batch: its seq and the card sealed
// again.
type ResealItem struct {
	Seq uint64
	Enc []byte
}

// ResealCmd is an OpReseal command: the records from From (the cursor)
// up to Next (exclusive) were looked at; Items are those re-sealed; Done:
// the re-seal reached the last record.
type ResealCmd struct {
	From, Next uint64
	Done       bool
	Items      []ResealItem
}

// KeyCmdOf encodes an OpCardKey command.
func KeyCmdOf(c KeyCmd) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpCardKey)}}
	w.byte(byte(c.Action))
	w.byte(c.ID)
	w.str(c.Check)
	w.str(c.HashCheck)
	w.int(c.At)
	return w.b
}

func readKeyCmd(r *reader) *KeyCmd {
	return &KeyCmd{Action: KeyAction(r.byte()), ID: r.byte(), Check: r.str(), HashCheck: r.str(), At: r.int()}
}

// ResealCmdOf encodes an OpReseal command.
func ResealCmdOf(c ResealCmd) []byte {
	w := writer{b: make([]byte, 0, 24+len(c.Items)*(sealV1Len+12))}
	w.b = append(w.b, cmdVersion, byte(OpReseal))
	w.int(int64(c.From))
	w.int(int64(c.Next))
	w.bool(c.Done)
	w.int(int64(len(c.Items)))
	for _, it := range c.Items {
		w.int(int64(it.Seq))
		w.bytes(it.Enc)
	}
	return w.b
}

func readResealCmd(r *reader) *ResealCmd {
	c := &ResealCmd{From: uint64(r.int()), Next: uint64(r.int()), Done: r.bool()}
	n := r.count()
	if n > MaxResealBatch {
		r.failf("re-seal of %d records, at most %d", n, MaxResealBatch)
		return c
	}
	for i := 0; i < n && r.err == nil; i++ {
		c.Items = append(c.Items, ResealItem{Seq: uint64(r.int()), Enc: r.bytes()})
	}
	return c
}

func encodeKeyState(k KeyState) []byte {
	w := writer{b: []byte{1}}
	w.byte(k.Current)
	w.str(k.Check)
	w.str(k.HashCheck)
	w.bytes(k.Retired)
	w.bool(k.Resealing)
	w.int(int64(k.Cursor))
	w.int(k.RotatedAt)
	return w.b
}

func decodeKeyState(b []byte) (KeyState, error) {
	if b == nil {
		return KeyState{}, nil
	}
	if len(b) == 0 || b[0] != 1 {
		return KeyState{}, fmt.Errorf("%w: card key state", ErrCorrupt)
	}
	r := reader{b: b[1:]}
	k := KeyState{Current: r.byte(), Check: r.str(), HashCheck: r.str(), Retired: r.bytes(), Resealing: r.bool(), Cursor: uint64(r.int()), RotatedAt: r.int()}
	if len(k.Retired) == 0 {
		k.Retired = nil
	}
	return k, r.done()
}

func (a *applier) keyState() (KeyState, error) {
	return decodeKeyState(a.tx.Bucket(bucketCardKeys).Get(metaKeyState))
}

func (a *applier) putKeyState(k KeyState) error {
	a.keysChanged = true
	return a.tx.Bucket(bucketCardKeys).Put(metaKeyState, encodeKeyState(k))
}

// cardKey applies an OpCardKey command.
func (a *applier) cardKey(c *KeyCmd) (Result, error) {
	k, err := a.keyState()
	if err != nil {
		return Result{}, err
	}
	refuse := func(format string, args ...any) (Result, error) {
		return Result{Err: fmt.Errorf(format, args...), Keys: &k}, nil
	}
	switch {
	case c.ID == 0:
		return refuse("%w: card key id 0: ids are 1 to %d", ErrInvalid, maxKeyID)
	case k.retired(c.ID):
		return refuse("%w: key %d was retired; give a new key a new id", ErrKeyRetired, c.ID)
	}
	switch c.Action {
	case KeyRotate:
		if c.ID == k.current() && k.Current != 0 {
			return Result{Existed: true, Keys: &k}, nil
		}
		if k.HashCheck != "" && c.HashCheck != k.HashCheck {
			return refuse("%w: hash key check %s, the cluster's is %s: the node that proposed it holds another card_key_file", ErrMismatch, c.HashCheck, k.HashCheck)
		}
		k.Current, k.Check, k.HashCheck, k.RotatedAt = c.ID, c.Check, c.HashCheck, c.At
		k.Resealing, k.Cursor = true, 0
	case KeyRetire:
		if c.ID == k.current() {
			return refuse("%w: key %d seals: make another key current first", ErrInvalid, c.ID)
		}
		n, err := a.sealedUnder(c.ID)
		if err != nil {
			return Result{}, err
		}
		if n > 0 {
			return refuse("%w: %d records are still sealed under key %d: let the re-seal finish (tillctl key status)", ErrDayBusy, n, c.ID)
		}
		k.Retired = append(k.Retired, c.ID)
		slices.Sort(k.Retired)
	case KeyReseal:
		if k.Resealing && k.Cursor == 0 {
			return Result{Existed: true, Keys: &k}, nil
		}
		k.Resealing, k.Cursor = true, 0
	default:
		return refuse("%w: card key action %d", ErrInvalid, c.Action)
	}
	if err := a.putKeyState(k); err != nil {
		return Result{}, err
	}
	return Result{Keys: &k}, nil
}

// sealedUnder counts the records that open with key id (the legacy ones
// for key 1).
func (a *applier) sealedUnder(id uint8) (int64, error) {
	n, err := decodeSum(a.tx.Bucket(bucketCardKeyRecords).Get([]byte{id}))
	if err != nil {
		return 0, err
	}
	if id != legacyKeyID {
		return n.Count, nil
	}
	l, err := decodeSum(a.tx.Bucket(bucketCardKeyRecords).Get([]byte{0}))
	return n.Count + l.Count, err
}

// countSealed moves a record's count from the class of old (nil: none) to
// the class of enc.
func (a *applier) countSealed(old, enc []byte) error {
	if c, ok := sealClass(old); ok {
		if err := a.addSum(bucketCardKeyRecords, []byte{c}, -1, 0); err != nil {
			return err
		}
	}
	if c, ok := sealClass(enc); ok {
		return a.addSum(bucketCardKeyRecords, []byte{c}, 1, 0)
	}
	return nil
}

// reseal applies an OpReseal command.
func (a *applier) reseal(c *ResealCmd) (Result, error) {
	k, err := a.keyState()
	if err != nil {
		return Result{}, err
	}
	if !k.Resealing || k.Cursor != c.From {
		return Result{Err: fmt.Errorf("%w: batch from %d, cursor %d (re-sealing %v)", ErrStaleReseal, c.From, k.Cursor, k.Resealing), Keys: &k}, nil
	}
	if c.Next < c.From {
		return Result{Err: fmt.Errorf("%w: re-seal batch from %d to %d", ErrInvalid, c.From, c.Next), Keys: &k}, nil
	}
	cur := k.current()
	for _, it := range c.Items {
		if id, err := SealedKeyID(it.Enc); err != nil || id != cur || isLegacy(it.Enc) || it.Seq < c.From || it.Seq >= c.Next {
			return Result{Err: fmt.Errorf("%w: re-seal of record %d: not sealed under the current key %d, or outside %d-%d", ErrInvalid, it.Seq, cur, c.From, c.Next), Keys: &k}, nil
		}
	}
	for _, it := range c.Items {
		seq := seqKey(it.Seq)
		t, err := getTxn(a.tx, seq)
		if err != nil {
			return Result{}, err
		}
		if t == nil || bytes.Equal(t.PANEnc, it.Enc) {
			continue
		}
		if cls, ok := sealClass(t.PANEnc); ok && cls == cur {
			continue // already under the current key
		}
		if err := a.countSealed(t.PANEnc, it.Enc); err != nil {
			return Result{}, err
		}
		t.PANEnc = it.Enc
		if err := a.putRecord(t, seq); err != nil {
			return Result{}, err
		}
	}
	k.Cursor = c.Next
	if c.Done {
		k.Resealing = false
	}
	if err := a.putKeyState(k); err != nil {
		return Result{}, err
	}
	return Result{Keys: &k}, nil
}

// countAllSealed builds the per-key record counts of a file written before
// they existed.
func countAllSealed(tx *bolt.Tx) error {
	counts := map[uint8]int64{}
	err := tx.Bucket(bucketTxns).ForEach(func(k, v []byte) error {
		t, err := decodeTxn(v)
		if err != nil {
			return fmt.Errorf("record %x: %w", k, err)
		}
		if c, ok := sealClass(t.PANEnc); ok {
			counts[c]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketCardKeyRecords)
	for c, n := range counts {
		w := writer{}
		w.int(n)
		w.int(0)
		if err := b.Put([]byte{c}, w.b); err != nil {
			return err
		}
	}
	return nil
}

// CardKeys is the replicated state of the card keys as last committed.
func (s *Store) CardKeys() KeyState {
	if k := s.keys.Load(); k != nil {
		return *k
	}
	return KeyState{}
}

func (s *Store) loadKeyState(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		k, err := decodeKeyState(tx.Bucket(bucketCardKeys).Get(metaKeyState))
		if err == nil {
			s.keys.Store(&k)
		}
		return err
	})
}

// SealedRecords counts the records per key they are sealed under: key 0 is
// the legacy format (which key 1 opens).
func (s *Store) SealedRecords() (map[uint8]int64, error) {
	out := map[uint8]int64{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCardKeyRecords).ForEach(func(k, v []byte) error {
			n, err := decodeSum(v)
			if err == nil && len(k) == 1 {
				out[k[0]] = n.Count
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: card key records: %w", err)
	}
	return out, nil
}

// TxnsFrom returns up to n records from seq on, in seq order, and the seq
// after the last one (0 when none is left): the re-seal's walk.
func (s *Store) TxnsFrom(seq uint64, n int) ([]*Txn, []uint64, uint64, error) {
	var txns []*Txn
	var seqs []uint64
	next := uint64(0)
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTxns).Cursor()
		for k, v := c.Seek(seqKey(seq)); k != nil; k, v = c.Next() {
			if len(txns) == n {
				next = decodeSeq(k)
				return nil
			}
			t, err := decodeTxn(v)
			if err != nil {
				return fmt.Errorf("record %x: %w", k, err)
			}
			txns, seqs = append(txns, t), append(seqs, decodeSeq(k))
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("store: records from %d: %w", seq, err)
	}
	return txns, seqs, next, nil
}

func decodeSeq(k []byte) uint64 {
	var n uint64
	for _, b := range k {
		n = n<<8 | uint64(b)
	}
	return n
}
