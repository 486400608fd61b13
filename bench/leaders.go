package bench

import (
	"context"
	"sync"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// LeaderChange is a new Raft term seen during the load phase: a fault, or
// an election the load caused.
type LeaderChange struct {
	At     time.Duration `json:"at_ns"` // since the start of the load
	Term   uint64        `json:"term"`
	Leader string        `json:"leader"` // the leader's id, if known yet
}

// leaderWatch polls every node's /status and records each new term.
type leaderWatch struct {
	nodes  []*adminapi.Client
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	term    uint64
	changes []LeaderChange
}

func watchLeaders(ctx context.Context, nodes []*adminapi.Client, every time.Duration) *leaderWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &leaderWatch{nodes: nodes, start: time.Now(), cancel: cancel}
	w.done = pollEvery(ctx, every, func(first bool) { w.poll(ctx, first) })
	return w
}

// poll asks every node; the first poll only sets the starting term.
func (w *leaderWatch) poll(ctx context.Context, first bool) {
	for _, n := range w.nodes {
		c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		st, err := n.Status(c)
		cancel()
		if err != nil || st.LeaderID == "" {
			continue
		}
		w.mu.Lock()
		if st.Term > w.term {
			if !first {
				w.changes = append(w.changes, LeaderChange{At: time.Since(w.start), Term: st.Term, Leader: st.LeaderID})
			}
			w.term = st.Term
		}
		w.mu.Unlock()
	}
}

// stop ends the watch and returns the changes seen.
func (w *leaderWatch) stop() []LeaderChange {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changes
}
