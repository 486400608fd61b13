package node

import (
	"net/http"
	"sync"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/adminapi"
)

// maxLeadersSeen bounds the leader history a node keeps.
const maxLeadersSeen = 10000

// leadersSeen is every (term, leader) this node has learnt of, so that a
// checker can compare the views of all nodes: one leader per term
// (FAULTS.md I6).
type leadersSeen struct {
	mu   sync.Mutex
	seen []adminapi.LeaderSeen
}

// note records l if it names a leader not recorded for its term yet.
func (s *leadersSeen) note(l cluster.Leadership, at time.Time) {
	if l.LeaderID == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.seen); n > 0 && s.seen[n-1].Term == l.Term && s.seen[n-1].LeaderID == l.LeaderID {
		return
	}
	if len(s.seen) >= maxLeadersSeen {
		s.seen = append(s.seen[:0], s.seen[1:]...)
	}
	s.seen = append(s.seen, adminapi.LeaderSeen{Term: l.Term, LeaderID: l.LeaderID, At: at.UTC()})
}

func (s *leadersSeen) list() []adminapi.LeaderSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]adminapi.LeaderSeen{}, s.seen...)
}

func (n *Node) leadersSeen(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, adminapi.Leaders{ID: n.cfg.ID, Seen: n.leaders.list()})
}
