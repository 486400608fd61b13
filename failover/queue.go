package failover

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillgate/tillgate/wire"
)

// entry is one message owed to the cluster: the reversal of a request whose
// outcome is unknown, or a reversal or advice that must be delivered.
type entry struct {
	ID       uint64       `json:"-"`
	Msg      wire.Message `json:"msg"` // no card data: see settlementFor
	Of       string       `json:"of"`  // key of the request it settles
	Attempts int          `json:"attempts"`
	Sent     bool         `json:"sent"`    // bytes left once: repeats only
	Created  int64        `json:"created"` // unix nanos (wall: survives restarts)
}

var bucketQueue = []byte("reversals")

// queue is the durable store-and-forward queue, one bbolt file, in order of
// arrival.
type queue struct{ db *bolt.DB }

func openQueue(path string) (*queue, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("failover: open reversal queue %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketQueue)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("failover: reversal queue %s: %w", path, err)
	}
	return &queue{db: db}, nil
}

func (q *queue) close() error { return q.db.Close() }

// add stores e durably (bbolt fsyncs on commit) and sets its ID.
func (q *queue) add(e *entry) error {
	return q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueue)
		id, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("reversal queue: %w", err)
		}
		e.ID = id
		return putEntry(b, e)
	})
}

// put rewrites e (attempts, repeat MTI).
func (q *queue) put(e *entry) error {
	return q.db.Update(func(tx *bolt.Tx) error { return putEntry(tx.Bucket(bucketQueue), e) })
}

func putEntry(b *bolt.Bucket, e *entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("reversal queue: encode: %w", err)
	}
	if err := b.Put(idKey(e.ID), v); err != nil {
		return fmt.Errorf("reversal queue: put: %w", err)
	}
	return nil
}

func (q *queue) remove(id uint64) error {
	return q.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketQueue).Delete(idKey(id)) })
}

// removeKey deletes the entry whose message has identity key and returns
// it; nil when none was there.
func (q *queue) removeKey(key string) (removed *entry, err error) {
	err = q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueue)
		return b.ForEach(func(k, v []byte) error {
			e := &entry{}
			if json.Unmarshal(v, e) != nil || e.Msg.Key() != key {
				return nil
			}
			e.ID = binary.BigEndian.Uint64(k)
			removed = e
			return b.Delete(k)
		})
	})
	return removed, err
}

// all returns every entry, oldest first.
func (q *queue) all() ([]*entry, error) {
	var out []*entry
	err := q.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			e := &entry{}
			if err := json.Unmarshal(v, e); err != nil {
				return fmt.Errorf("reversal queue: entry %x: %w", k, err)
			}
			e.ID = binary.BigEndian.Uint64(k)
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

func idKey(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}
