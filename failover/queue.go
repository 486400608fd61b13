package failover

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// entry is one message owed to the cluster: the reversal of a request whose
// outcome may need undoing, or a reversal or advice that must be delivered.
type entry struct {
	ID  uint64       `json:"-"`
	Msg wire.Message `json:"msg"` // what goes out next; no card data: see settlementFor
	Of  string       `json:"of"`  // key of the request it settles
	// Card is, in a store only, the card number of an 0120 sealed with
	// the queue key (seal.go); in the queue's callers it is nil and
	// Msg.PAN is clear.
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

// store is where a queue keeps its entries and the register's STAN block:
// the register's own bbolt file (fileStore), or its part of a SharedQueue
// that a simulated fleet shares. Every method returns once its change is
// as durable as the store makes it: the write-ahead rests on that.
//
// A store keeps entries as it is given them: the queue has sealed their
// card number (Card) and left out every other card data, so that no store
// ever holds a clear one. The entries it returns are new ones, the
// caller's to change (the queue opens their card in place).
type store interface {
	// add stores e under a new id (set in e.ID) unless an entry of its
	// message's identity is there (errQueuedAlready); hold runs with the
	// id before the change is readable.
	add(e *entry, hold func(id uint64)) error
	// update rewrites e if it is still there.
	update(e *entry) (bool, error)
	// remove deletes entry id (its message's identity key) if it is there.
	remove(id uint64, key string) (bool, error)
	// removeKey deletes and returns the entry whose message has identity
	// key, unless held reports its id held.
	removeKey(key string, held func(id uint64) bool) (*entry, error)
	// all returns every entry, oldest first.
	all() ([]*entry, error)
	// rewrite stores those of es still there, in one change.
	rewrite(es []*entry) error
	// stanNext and putSTANNext keep the first STAN after the reserved block.
	stanNext() (uint32, bool, error)
	putSTANNext(n uint32) error
	close() error
}

// queue is the durable store-and-forward queue, a store, plus what the
// running client knows of each entry beyond it (slots). It seals an
// entry's card number on its way to the store and opens it on the way
// back, whichever the store.
type queue struct {
	st   store
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

// openQueue opens (or creates) a register's own queue file. noSync skips
// fsync on commits: entries then survive a crash of the process, not of
// the machine. seal, if not nil, seals the card numbers the queue keeps. A
// file from before sealing is upgraded (upgrade.go).
func openQueue(path string, noSync bool, seal *sealer, log *slog.Logger) (*queue, error) {
	st, err := openFileStore(path, noSync, seal, log)
	if err != nil {
		return nil, err
	}
	q, err := newQueue(st, seal)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("failover: reversal queue %s: %w", path, err)
	}
	return q, nil
}

// newQueue returns the queue kept in st, once every sealed card in it
// opens with seal: an entry that cannot be sent would otherwise only be
// found at its first try.
func newQueue(st store, seal *sealer) (*queue, error) {
	q := &queue{st: st, seal: seal, slots: make(map[uint64]*slot)}
	es, err := st.all()
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if err := openCard(seal, e); err != nil {
			if errors.Is(err, errNoQueueKey) {
				return nil, fmt.Errorf("%w: entry %d holds a card number sealed with a queue key: set QueueKeyFile to that key", ErrConfig, e.ID)
			}
			return nil, err
		}
	}
	return q, nil
}

func (q *queue) close() error { return q.st.close() }

// add stores e and sets its ID; an entry with the same message identity
// already queued is refused (errQueuedAlready). The hold of a written-ahead
// entry is in memory before the commit, so that no forwarder pass that can
// read the entry takes it for due.
func (q *queue) add(e *entry) error {
	s, err := sealCard(q.seal, e)
	if err != nil {
		return err
	}
	var id uint64
	err = q.st.add(s, func(got uint64) { id = got; q.setHeld(got, e.Held) })
	e.ID = s.ID
	if err != nil && id != 0 {
		q.forget(id)
	}
	return err
}

// update rewrites e if it is still queued; false when an answer removed
// it meanwhile, so that an acknowledged entry never comes back.
func (q *queue) update(e *entry) (bool, error) {
	s, err := sealCard(q.seal, e)
	if err != nil {
		return false, err
	}
	return q.st.update(s)
}

// remove deletes e and reports whether it was still there: when an answer
// removed it meanwhile, only that one reports it acknowledged.
func (q *queue) remove(e *entry) (bool, error) {
	found, err := q.st.remove(e.ID, e.Msg.Key())
	if err == nil {
		q.forget(e.ID) // after the commit: no pass may see it unheld before
	}
	return found, err
}

// removeDue deletes the due entry whose message has identity key and
// returns it; nil when there is none, or when a Do in flight holds it (the
// Do learns the answer itself, or releases it to the forwarder). An entry
// whose card does not open is removed all the same (the answer
// acknowledged it) and returned with the error.
func (q *queue) removeDue(key string) (*entry, error) {
	removed, err := q.st.removeKey(key, q.isHeld)
	if err != nil || removed == nil {
		return nil, err
	}
	q.forget(removed.ID)
	return removed, openCard(q.seal, removed)
}

// all returns every entry, oldest first, held ones included, their card
// numbers opened.
func (q *queue) all() ([]*entry, error) {
	es, err := q.st.all()
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if err := openCard(q.seal, e); err != nil {
			return nil, err
		}
	}
	return es, nil
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
	var out, sealed []*entry
	for _, e := range es {
		if e.Held && !q.isHeld(e.ID) {
			s, err := sealCard(q.seal, e)
			if err != nil {
				return nil, err
			}
			s.Held, e.Held = false, false
			out, sealed = append(out, e), append(sealed, s)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, q.st.rewrite(sealed)
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
