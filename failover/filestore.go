package failover

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fileStore is a register's own queue file (Config.ReversalQueue): bbolt,
// one commit per operation, fsync'd unless Config.QueueNoSync.
type fileStore struct {
	db *bolt.DB
}

// The queue file's buckets: entries by id (arrival order), and the index
// of entries by their message's identity (DE41 + DE11 + DE7), so that an
// answer finds its entry without a walk.
var (
	bucketQueue = []byte("reversals")
	bucketKeys  = []byte("reversal_keys")
)

// openFileStore opens (or creates) the queue file. noSync skips fsync on
// commits: entries then survive a crash of the process, not of the machine.
// A file from before sealing is upgraded with seal (upgrade.go) before
// anything else reads it.
func openFileStore(path string, noSync bool, seal *sealer, log *slog.Logger) (*fileStore, error) {
	db, err := openQueueDB(path)
	if err != nil {
		return nil, err
	}
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("failover: reversal queue %s: %w", path, err)
	}
	s := &fileStore{db: db}
	rep, err := s.upgrade(path, seal)
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("failover: reversal queue %s: %w", path, err)
	}
	if rep.upgraded {
		log.Info("failover: reversal queue upgraded: no clear card number kept, file compacted",
			"file", path, "entries_rewritten", rep.rewritten)
	}
	if rep.leftClear > 0 {
		log.Error("failover: reversal queue holds advices (0120) with a clear card number and no queue key to seal them: set QueueKeyFile",
			"file", path, "entries", rep.leftClear)
	}
	s.db.NoSync = noSync // the upgrade's commits were synced
	return s, nil
}

func openQueueDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, queueOptions())
	if err != nil {
		return nil, fmt.Errorf("failover: open reversal queue %s: %w", path, err)
	}
	return db, nil
}

func queueOptions() *bolt.Options {
	return &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
}

// initBuckets creates the buckets; a file from before the index gets its
// index built from its entries.
func initBuckets(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketMeta); err != nil {
		return err
	}
	b, err := tx.CreateBucketIfNotExists(bucketQueue)
	if err != nil {
		return err
	}
	if tx.Bucket(bucketKeys) != nil {
		return nil
	}
	keys, err := tx.CreateBucket(bucketKeys)
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		e := &entry{}
		if err := json.Unmarshal(v, e); err != nil {
			return fmt.Errorf("entry %x: %w", k, err)
		}
		return keys.Put([]byte(e.Msg.Key()), k)
	})
}

func (s *fileStore) close() error { return s.db.Close() }

func (s *fileStore) add(e *entry, hold func(id uint64)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, keys := tx.Bucket(bucketQueue), tx.Bucket(bucketKeys)
		k := []byte(e.Msg.Key())
		if keys.Get(k) != nil {
			return fmt.Errorf("%s: %w", k, errQueuedAlready)
		}
		id, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("reversal queue: %w", err)
		}
		e.ID = id
		if err := keys.Put(k, idKey(id)); err != nil {
			return fmt.Errorf("reversal queue: index: %w", err)
		}
		hold(id)
		return putEntry(b, e)
	})
}

func (s *fileStore) update(e *entry) (bool, error) {
	found := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueue)
		if b.Get(idKey(e.ID)) == nil {
			return nil
		}
		found = true
		return putEntry(b, e)
	})
	return found, err
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

func (s *fileStore) remove(id uint64, key string) (bool, error) {
	found := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		k := idKey(id)
		if tx.Bucket(bucketQueue).Get(k) == nil {
			return nil
		}
		found = true
		return deleteKeys(tx, k, key)
	})
	return found, err
}

func (s *fileStore) removeKey(key string, held func(id uint64) bool) (*entry, error) {
	var removed *entry
	err := s.db.Update(func(tx *bolt.Tx) error {
		k := tx.Bucket(bucketKeys).Get([]byte(key))
		if k == nil || held(binary.BigEndian.Uint64(k)) {
			return nil
		}
		var err error
		removed, err = deleteEntry(tx, k)
		return err
	})
	return removed, err
}

// deleteEntry deletes the entry under k and its index key and returns it.
func deleteEntry(tx *bolt.Tx, k []byte) (*entry, error) {
	v := tx.Bucket(bucketQueue).Get(k)
	if v == nil {
		return nil, nil
	}
	e := &entry{}
	if err := json.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("reversal queue: entry %x: %w", k, err)
	}
	e.ID = binary.BigEndian.Uint64(k)
	return e, deleteKeys(tx, k, e.Msg.Key())
}

// deleteKeys deletes the entry under k and the index key of its message.
func deleteKeys(tx *bolt.Tx, k []byte, key string) error {
	if err := tx.Bucket(bucketKeys).Delete([]byte(key)); err != nil {
		return fmt.Errorf("reversal queue: index: %w", err)
	}
	if err := tx.Bucket(bucketQueue).Delete(k); err != nil {
		return fmt.Errorf("reversal queue: delete: %w", err)
	}
	return nil
}

func (s *fileStore) all() ([]*entry, error) {
	var out []*entry
	err := s.db.View(func(tx *bolt.Tx) error {
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

func (s *fileStore) rewrite(es []*entry) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueue)
		for _, e := range es {
			if b.Get(idKey(e.ID)) == nil {
				continue // answered meanwhile: never write it back
			}
			if err := putEntry(b, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *fileStore) stanNext() (uint32, bool, error) {
	var (
		n  uint32
		ok bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySTAN); len(v) == 4 {
			n, ok = binary.BigEndian.Uint32(v), true
		}
		return nil
	})
	return n, ok, err
}

func (s *fileStore) putSTANNext(n uint32) error {
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], n)
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySTAN, v[:]) })
}

func idKey(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}
