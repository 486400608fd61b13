package failover

import (
	"encoding/json"
	"fmt"
)

// sharedStore is one register's queue in a SharedQueue. Each change is
// made in memory and its record appended under the SharedQueue's lock,
// then waited for: records are written in the order the changes were made.
type sharedStore struct {
	s    *SharedQueue
	name string
	r    *sharedReg
}

func (st *sharedStore) add(e *entry, hold func(id uint64)) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("reversal queue: encode: %w", err)
	}
	s, key := st.s, e.Msg.Key()
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return err
	}
	if _, ok := st.r.keys[key]; ok {
		s.mu.Unlock()
		return fmt.Errorf("%s: %w", key, errQueuedAlready)
	}
	s.lastID++
	id := s.lastID
	e.ID = id
	hold(id)
	st.r.entries[id], st.r.keys[key] = v, id
	b := s.append(opPut, st.name, id, key, v)
	s.mu.Unlock()
	if err := s.wait(b); err != nil {
		st.undo(id, key, nil)
		return err
	}
	return nil
}

// undo makes memory what the file holds after a change to entry id failed
// to be written: v, or no entry. The store is broken from then on, so
// nothing written later can contradict it.
func (st *sharedStore) undo(id uint64, key string, v []byte) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if v == nil {
		delete(st.r.entries, id)
		if st.r.keys[key] == id {
			delete(st.r.keys, key)
		}
		return
	}
	st.r.entries[id], st.r.keys[key] = v, id
}

func (st *sharedStore) update(e *entry) (bool, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return false, fmt.Errorf("reversal queue: encode: %w", err)
	}
	s := st.s
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return false, err
	}
	if _, ok := st.r.entries[e.ID]; !ok {
		s.mu.Unlock()
		return false, nil
	}
	st.r.entries[e.ID] = v
	b := s.append(opPut, st.name, e.ID, e.Msg.Key(), v)
	s.mu.Unlock()
	return true, s.wait(b)
}

func (st *sharedStore) remove(id uint64, key string) (bool, error) {
	s := st.s
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return false, err
	}
	if _, ok := st.r.entries[id]; !ok {
		s.mu.Unlock()
		return false, nil
	}
	v := st.r.entries[id]
	b := st.delete(id, key)
	s.mu.Unlock()
	if err := s.wait(b); err != nil {
		st.undo(id, key, v)
		return true, err
	}
	return true, nil
}

// delete removes entry id and its index key and appends the record; mu held.
func (st *sharedStore) delete(id uint64, key string) uint64 {
	delete(st.r.entries, id)
	if st.r.keys[key] == id {
		delete(st.r.keys, key)
	}
	return st.s.append(opDelete, st.name, id, key, nil)
}

func (st *sharedStore) removeKey(key string, held func(id uint64) bool) (*entry, error) {
	s := st.s
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	id, ok := st.r.keys[key]
	if !ok || held(id) {
		s.mu.Unlock()
		return nil, nil
	}
	e, err := decodeEntry(id, st.r.entries[id])
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	v := st.r.entries[id]
	b := st.delete(id, key)
	s.mu.Unlock()
	if err := s.wait(b); err != nil {
		st.undo(id, key, v)
		return nil, err
	}
	return e, nil
}

func (st *sharedStore) all() ([]*entry, error) {
	s := st.s
	s.mu.Lock()
	ids := sortedKeys(st.r.entries)
	vs := make([][]byte, len(ids))
	for i, id := range ids {
		vs[i] = st.r.entries[id]
	}
	s.mu.Unlock()
	out := make([]*entry, len(ids))
	for i, id := range ids {
		e, err := decodeEntry(id, vs[i])
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func (st *sharedStore) rewrite(es []*entry) error {
	vs := make([][]byte, len(es))
	for i, e := range es {
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("reversal queue: encode: %w", err)
		}
		vs[i] = v
	}
	s := st.s
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return err
	}
	b, wrote := uint64(0), false
	for i, e := range es {
		if _, ok := st.r.entries[e.ID]; !ok {
			continue // answered meanwhile: never write it back
		}
		st.r.entries[e.ID] = vs[i]
		b, wrote = s.append(opPut, st.name, e.ID, e.Msg.Key(), vs[i]), true
	}
	s.mu.Unlock()
	if !wrote {
		return nil
	}
	return s.wait(b)
}

func (st *sharedStore) stanNext() (uint32, bool, error) {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	return st.r.stan, st.r.hasSTAN, nil
}

func (st *sharedStore) putSTANNext(n uint32) error {
	s := st.s
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return err
	}
	st.r.stan, st.r.hasSTAN = n, true
	b := s.append(opSTAN, st.name, uint64(n), "", nil)
	s.mu.Unlock()
	return s.wait(b)
}

// close lets another client open this register's queue; the SharedQueue
// stays open.
func (st *sharedStore) close() error {
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	st.r.inUse = false
	return nil
}

func decodeEntry(id uint64, v []byte) (*entry, error) {
	e := &entry{}
	if err := json.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("reversal queue: entry %d: %w", id, err)
	}
	e.ID = id
	return e, nil
}
