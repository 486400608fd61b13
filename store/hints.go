package store

// idHints remembers where the records of recent INTENTs are (id -> seq), so
// that their OUTCOME reads the record without a lookup in idx_id. That
// index's keys start with the terminal, so consecutive transactions land
// on different pages all over it: its lookups were a sixth of what a
// standby spent applying. A hint is only a guess, never the truth: the
// record it names is read and must carry the id, and anything else
// (a record rolled back with a failed commit, a state replaced by a
// snapshot) falls back to the index. Hits and misses give the same result,
// so replicas with different hints stay equal.
//
// Only ApplyBatch uses them, under Store.wmu.
type idHints map[string]string

// maxIDHints bounds the memory: far more than the transactions in flight
// (an OUTCOME follows its INTENT within seconds), about 6 MB when full.
const maxIDHints = 1 << 16

func (h *idHints) find(id string) ([]byte, bool) {
	if h == nil {
		return nil, false
	}
	seq, ok := (*h)[id]
	return []byte(seq), ok
}

func (h *idHints) add(id string, seq []byte) {
	if h == nil {
		return
	}
	if *h == nil || len(*h) >= maxIDHints {
		*h = make(idHints, 1024)
	}
	(*h)[id] = string(seq)
}
