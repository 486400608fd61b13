package leadership

import (
	"sync"
	"time"

	"github.com/tillgate/tillgate/cluster"
)

// maxSeen bounds the leader history a node keeps.
const maxSeen = 10000

// Seen is one leader this node learnt of, and when.
type Seen struct {
	Term     uint64
	LeaderID string
	At       time.Time
}

// History is every (term, leader) this node has learnt of, so that a
// checker can compare the views of all nodes: one leader per term
// (FAULTS.md I6). The zero value is ready to use.
type History struct {
	mu   sync.Mutex
	seen []Seen
}

// Note records l if it names a leader not recorded for its term yet.
func (h *History) Note(l cluster.Leadership, at time.Time) {
	if l.LeaderID == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.seen); n > 0 && h.seen[n-1].Term == l.Term && h.seen[n-1].LeaderID == l.LeaderID {
		return
	}
	if len(h.seen) >= maxSeen {
		h.seen = append(h.seen[:0], h.seen[1:]...)
	}
	h.seen = append(h.seen, Seen{Term: l.Term, LeaderID: l.LeaderID, At: at.UTC()})
}

// List is a copy of the history, oldest first.
func (h *History) List() []Seen {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Seen{}, h.seen...)
}
