package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// applier applies commands inside one write transaction.
type applier struct {
	tx *bolt.Tx
	s  *Store
}

func (a applier) apply(cmd []byte) Result {
	c, err := decodeCommand(cmd)
	if err != nil {
		return Result{Err: err}
	}
	var r Result
	switch c.op {
	case OpIntent:
		r, err = a.intent(c.intent)
	case OpOutcome:
		r, err = a.outcome(c.outcome)
	}
	if err != nil {
		return Result{Err: err}
	}
	return r
}

func (a applier) get(id string) (*Txn, error) {
	v := a.tx.Bucket(bucketTxns).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return unmarshalTxn(v)
}

func (a applier) intent(t *Txn) (Result, error) {
	old, err := a.get(t.ID)
	if err != nil {
		return Result{}, err
	}
	if old != nil {
		return Result{Txn: old, Existed: true}, nil
	}
	t.Status = StatusPending
	t.UpdatedAt = t.CreatedAt
	day, err := a.businessDay(t.CreatedAt)
	if err != nil {
		return Result{}, err
	}
	t.Day = day
	if err := a.put(t, 0); err != nil {
		return Result{}, err
	}
	return Result{Txn: t}, nil
}

// businessDay is the open day; the first transaction ever opens the day of
// its (leader-stamped) time.
func (a applier) businessDay(at int64) (string, error) {
	meta := a.tx.Bucket(bucketMeta)
	if v := meta.Get(metaDay); v != nil {
		return string(v), nil
	}
	day := time.Unix(0, at).UTC().Format("20060102")
	return day, meta.Put(metaDay, []byte(day))
}

func (a applier) outcome(o outcome) (Result, error) {
	t, err := a.get(o.id)
	if err != nil {
		return Result{}, err
	}
	if t == nil {
		return Result{}, fmt.Errorf("%w: outcome for %s", ErrNotFound, o.id)
	}
	if t.Status != StatusPending && t.Status != StatusUnknown {
		// Already final: a repeated OUTCOME changes nothing.
		return Result{Txn: t}, nil
	}
	old := t.Status
	t.Status, t.RC, t.AuthCode, t.StandIn, t.UpdatedAt = o.status, o.rc, o.authCode, o.standIn, o.at
	if err := a.put(t, old); err != nil {
		return Result{}, err
	}
	if t.Type == TypeReversal && t.Status == StatusApproved && t.OriginalID != "" {
		if err := a.reverse(t.OriginalID, o.at); err != nil {
			return Result{}, err
		}
	}
	return Result{Txn: t}, nil
}

// reverse marks an approved (or unknown) original as reversed.
func (a applier) reverse(id string, at int64) error {
	orig, err := a.get(id)
	if err != nil || orig == nil {
		return err
	}
	if orig.Status != StatusApproved && orig.Status != StatusUnknown {
		return nil
	}
	old := orig.Status
	orig.Status, orig.UpdatedAt = StatusReversed, at
	return a.put(orig, old)
}

// put writes t and its indexes. old is its previous status (0 for new).
func (a applier) put(t *Txn, old Status) error {
	id := []byte(t.ID)
	// bbolt keeps a reference to the value until commit: a fresh buffer each.
	if err := a.tx.Bucket(bucketTxns).Put(id, t.marshal(make([]byte, 0, 256))); err != nil {
		return err
	}
	if old == 0 {
		if t.RRN != "" {
			if err := a.tx.Bucket(bucketRRN).Put([]byte(t.RRN), id); err != nil {
				return err
			}
		}
		if err := a.tx.Bucket(bucketMerchant).Put(join(t.MerchantID, t.Day, t.ID), nil); err != nil {
			return err
		}
		if err := a.tx.Bucket(bucketDay).Put(join(t.Day, t.ID), nil); err != nil {
			return err
		}
	} else if err := a.tx.Bucket(bucketStatus).Delete(statusKey(old, t.ID)); err != nil {
		return err
	}
	if err := a.tx.Bucket(bucketStatus).Put(statusKey(t.Status, t.ID), nil); err != nil {
		return err
	}
	if t.Status == StatusPending {
		return a.tx.Bucket(bucketPending).Put(id, nil)
	}
	return a.tx.Bucket(bucketPending).Delete(id)
}

func join(parts ...string) []byte {
	var b []byte
	for i, p := range parts {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, p...)
	}
	return b
}

func statusKey(s Status, id string) []byte {
	return append([]byte{byte(s)}, id...)
}
