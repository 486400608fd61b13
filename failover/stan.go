package failover

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
)

// stanBlock is how many STANs one commit reserves: a restarted register
// skips at most that many, and NextSTAN commits once per block.
const stanBlock = 1000

var (
	bucketMeta = []byte("meta")
	keySTAN    = []byte("stan_next") // first STAN after the reserved block
)

// stanSeq is the register's DE11 sequence, 000001..999999 then round
// again. It lives in the queue file, reserved a block at a time, so that a
// restarted register goes on after its last block instead of handing out
// STANs it used earlier the same day.
type stanSeq struct {
	q   *queue
	log *slog.Logger

	mu    sync.Mutex
	next  uint32 // the next STAN to hand out
	limit uint32 // the first STAN not reserved
}

// openSTAN reads the sequence from the queue file; a new file starts it at
// a random point, as registers' STANs do.
func openSTAN(q *queue, log *slog.Logger) (*stanSeq, error) {
	s := &stanSeq{q: q, log: log}
	next, ok, err := q.st.stanNext()
	if !ok {
		next = 1 + rand.Uint32N(999999)
	}
	s.next = next
	if err != nil {
		return nil, fmt.Errorf("failover: STAN sequence: %w", err)
	}
	s.limit = s.next
	return s, nil
}

// nextSTAN hands out the next STAN, reserving a block when needed.
func (s *stanSeq) nextSTAN() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == s.limit {
		s.reserve()
	}
	n := s.next
	s.next = stanPlus(n, 1)
	return pad6(n)
}

// reserve commits the end of the next block. A failed commit is logged and
// the block used anyway: a STAN reused after a restart is a lesser harm
// than a register that cannot send.
func (s *stanSeq) reserve() {
	limit := stanPlus(s.next, stanBlock)
	if err := s.q.st.putSTANNext(limit); err != nil {
		s.log.Error("failover: STAN block not reserved: a restart may reuse these STANs", "from", s.next, "err", err)
	}
	s.limit = limit
}

// stanPlus is the STAN k after n, 999999 followed by 000001.
func stanPlus(n, k uint32) uint32 { return (n-1+k)%999999 + 1 }

func pad6(n uint32) string {
	s := strconv.FormatUint(uint64(n), 10)
	return "000000"[len(s):] + s
}
