package failover

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillgate/tillgate/wire"
)

// entry is one message owed to the cluster: the reversal of a request whose
// outcome may need undoing, or a reversal or advice that must be delivered.
type entry struct {
	ID  uint64       `json:"-"`
	Msg wire.Message `json:"msg"` // what goes out next; no card data: see settlementFor
	Of  string       `json:"of"`  // key of the request it settles
	// Card is, in the file only, the card number of an 0120 sealed with
	// the queue key (seal.go); in memory it is nil and Msg.PAN is clear.
	Card []byte `json:"card,omitempty"`
	// Attempts counts the forwarder's sends; each is stored before it goes.
	Attempts int  `json:"attempts"`
	Sent     bool `json:"sent"` // bytes may have left once: repeats only
	// Held marks an entry written ahead by a Do still waiting for its
	// answer: not due. The running client keeps the hold in memory (slot);
	// one found held in the file at Open was left by a register that
	// crashed or lost power mid-request, and is due.
	Held    bool  `json:"held,omitempty"`
	Created int64 `json:"created"` // unix nanos (wall: survives restarts)
}

// The queue file's buckets: entries by id (arrival order), and the index
// of entries by their message's identity (DE41 + DE11 + DE7), so that an
// answer finds its entry without a walk.
var (
	bucketQueue = []byte("reversals")
	bucketKeys  = []byte("reversal_keys")
)

// queue is the durable store-and-forward queue, one bbolt file, plus what
// the running client knows of each entry beyond the file (slots).
type queue struct {
	db   *bolt.DB
	seal *sealer // nil: no queue key; an entry naming a card is refused

	mu    sync.Mutex
	slots map[uint64]*slot
}

// slot is the in-memory state of one entry. An entry without a slot is due.
type slot struct {
	held      bool      // a Do in flight owns it: the forwarder leaves it alone
	tries     int       // tries not acknowledged since it became due
	notBefore time.Time // backoff: not sent again before (monotonic)
}

// openQueue opens (or creates) the queue file. noSync skips fsync on
// commits: entries then survive a crash of the process, not of the machine.
// seal, if not nil, seals the card numbers the queue keeps. A file from
// before sealing is upgraded (upgrade.go).
func openQueue(path string, noSync bool, seal *sealer, log *slog.Logger) (*queue, error) {
	db, err := openQueueDB(path)
	if err != nil {
		return nil, err
	}
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("failover: reversal queue %s: %w", path, err)
	}
	q := &queue{db: db, seal: seal, slots: make(map[uint64]*slot)}
	rep, err := q.upgrade(path)
	if err != nil {
		q.db.Close()
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
	q.db.NoSync = noSync
	return q, nil
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

func (q *queue) close() error { return q.db.Close() }

// add stores e and sets its ID; an entry with the same message identity
// already queued is refused (errQueuedAlready). The hold of a written-ahead
// entry is in memory before the commit, so that no forwarder pass that can
// read the entry takes it for due.
func (q *queue) add(e *entry) error {
	var id uint64
	err := q.db.Update(func(tx *bolt.Tx) error {
		b, keys := tx.Bucket(bucketQueue), tx.Bucket(bucketKeys)
		k := []byte(e.Msg.Key())
		if keys.Get(k) != nil {
			return fmt.Errorf("%s: %w", k, errQueuedAlready)
		}
		var err error
		if id, err = b.NextSequence(); err != nil {
			return fmt.Errorf("reversal queue: %w", err)
		}
		e.ID = id
		if err := keys.Put(k, idKey(id)); err != nil {
			return fmt.Errorf("reversal queue: index: %w", err)
		}
		q.setHeld(id, e.Held)
		return q.put(b, e)
	})
	if err != nil && id != 0 {
		q.forget(id)
	}
	return err
}

// update rewrites e if it is still queued; false when an answer removed
// it meanwhile, so that an acknowledged entry never comes back.
func (q *queue) update(e *entry) (bool, error) {
	found := false
	err := q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueue)
		if b.Get(idKey(e.ID)) == nil {
			return nil
		}
		found = true
		return q.put(b, e)
	})
	return found, err
}

// put stores e as the file keeps it (encode).
func (q *queue) put(b *bolt.Bucket, e *entry) error {
	v, err := q.encode(e)
	if err != nil {
		return fmt.Errorf("reversal queue: encode: %w", err)
	}
	if err := b.Put(idKey(e.ID), v); err != nil {
		return fmt.Errorf("reversal queue: put: %w", err)
	}
	return nil
}

// encode is e as the file keeps it: its card number, if any, sealed, and
// no other card data (settlementFor left none; an upgraded entry may have
// had some).
func (q *queue) encode(e *entry) ([]byte, error) {
	s := *e
	s.Msg.Track2, s.Msg.PINBlock, s.Msg.ICC, s.Msg.Expiry, s.Card = "", nil, nil, "", nil
	if pan := s.Msg.PAN; pan != "" {
		if q.seal == nil {
			return nil, errNoQueueKey
		}
		card, err := q.seal.seal(pan, s.Of)
		if err != nil {
			return nil, err
		}
		s.Msg.PAN, s.Card = "", card
	}
	return json.Marshal(&s)
}

// decode reads the entry stored under k, its card number opened.
func (q *queue) decode(k, v []byte) (*entry, error) {
	e := &entry{}
	if err := json.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("reversal queue: entry %x: %w", k, err)
	}
	e.ID = binary.BigEndian.Uint64(k)
	if e.Card != nil {
		if q.seal == nil {
			return nil, fmt.Errorf("reversal queue: entry %x: %w", k, errNoQueueKey)
		}
		pan, err := q.seal.open(e.Card, e.Of)
		if err != nil {
			return nil, fmt.Errorf("reversal queue: entry %x: %w", k, err)
		}
		e.Msg.PAN, e.Card = pan, nil
	}
	return e, nil
}

// remove deletes e and reports whether it was still there: when an answer
// removed it meanwhile, only that one reports it acknowledged.
func (q *queue) remove(e *entry) (bool, error) {
	found := false
	err := q.db.Update(func(tx *bolt.Tx) error {
		b, k := tx.Bucket(bucketQueue), idKey(e.ID)
		if b.Get(k) == nil {
			return nil
		}
		found = true
		return deleteKeys(tx, k, e.Msg.Key())
	})
	if err == nil {
		q.forget(e.ID) // after the commit: no pass may see it unheld before
	}
	return found, err
}

// removeDue deletes the due entry whose message has identity key and
// returns it; nil when there is none, or when a Do in flight holds it (the
// Do learns the answer itself, or releases it to the forwarder).
func (q *queue) removeDue(key string) (*entry, error) {
	var removed *entry
	err := q.db.Update(func(tx *bolt.Tx) error {
		k := tx.Bucket(bucketKeys).Get([]byte(key))
		if k == nil || q.isHeld(binary.BigEndian.Uint64(k)) {
			return nil
		}
		var err error
		removed, err = q.deleteEntry(tx, k)
		return err
	})
	if err == nil && removed != nil {
		q.forget(removed.ID)
	}
	return removed, err
}

// deleteEntry deletes the entry under k and its index key and returns it.
func (q *queue) deleteEntry(tx *bolt.Tx, k []byte) (*entry, error) {
	v := tx.Bucket(bucketQueue).Get(k)
	if v == nil {
		return nil, nil
	}
	e, err := q.decode(k, v)
	if err != nil {
		return nil, err
	}
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

// all returns every entry, oldest first, held ones included.
func (q *queue) all() ([]*entry, error) {
	var out []*entry
	err := q.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			e, err := q.decode(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// persistReleased clears, in one commit, the file's hold of every entry no
// Do holds any more, and returns those entries. At Open no Do holds any:
// what it returns are the leftovers of a crash. At Close it makes the file
// agree with memory, so that the next Open does not take entries released
// since the forwarder's last pass for leftovers.
func (q *queue) persistReleased() ([]*entry, error) {
	es, err := q.all()
	if err != nil {
		return nil, err
	}
	return q.clearHolds(es)
}

// clearHolds is persistReleased over es, as read by the caller.
func (q *queue) clearHolds(es []*entry) ([]*entry, error) {
	var out []*entry
	for _, e := range es {
		if e.Held && !q.isHeld(e.ID) {
			e.Held = false
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	err := q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueue)
		for _, e := range out {
			if b.Get(idKey(e.ID)) == nil {
				continue // answered meanwhile: never write it back
			}
			if err := q.put(b, e); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func idKey(id uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	return k[:]
}

// In-memory state.

func (q *queue) setHeld(id uint64, held bool) {
	if !held {
		return
	}
	q.mu.Lock()
	q.slots[id] = &slot{held: true}
	q.mu.Unlock()
}

func (q *queue) forget(id uint64) {
	q.mu.Lock()
	delete(q.slots, id)
	q.mu.Unlock()
}

func (q *queue) isHeld(id uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.slots[id]
	return s != nil && s.held
}

// release makes a held entry due: at once (tries 0), or after wait when
// tries already failed (a reversal its Do saw refused).
func (q *queue) release(id uint64, tries int, wait time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.slots[id] = &slot{tries: tries, notBefore: time.Now().Add(wait)}
}

// due reports whether entry id may be sent now; wait is how long until it
// may when it is backing off; held entries are never due.
func (q *queue) due(id uint64) (ok bool, wait time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.slots[id]
	switch {
	case s == nil:
		return true, 0
	case s.held:
		return false, 0
	}
	if w := time.Until(s.notBefore); w > 0 {
		return false, w
	}
	return true, 0
}

// retryLater counts a try of entry id that was not acknowledged and holds
// the entry back for backoff(tries, counted since it became due).
func (q *queue) retryLater(id uint64, backoff func(tries int) time.Duration) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.slots[id]
	if s == nil {
		s = &slot{}
		q.slots[id] = s
	}
	s.tries++
	d := backoff(s.tries)
	s.notBefore = time.Now().Add(d)
	return d
}
