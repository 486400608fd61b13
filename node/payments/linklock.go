package payments

import (
	"hash/fnv"
	"net/http"
	"sync"

	"github.com/tillgate/tillgate/store"
)

// linkLocks serializes, per payment link, recording a new attempt and
// sending an attempt's authorization on this node. With the store's rule
// (a new attempt is refused while an older one's authorization is
// recorded and not final) it makes sure that an attempt superseded after
// LinkAttemptWindow never gets an authorization afterwards: the customer's
// old form sent again, or its challenge passed late, would otherwise pay
// the link a second time. Across a failover the log's order does the
// same: an authorization of the old term either precedes the new
// attempt (which the store then refuses) or is never committed.
type linkLocks [64]sync.Mutex

func (l *linkLocks) lock(link string) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(link))
	mu := &l[h.Sum32()%uint32(len(l))]
	mu.Lock()
	return mu.Unlock
}

// latestAttempt refuses to authorize p unless it is its link's latest
// attempt; call it holding the link's lock.
func (s *Server) latestAttempt(p *store.Payment) *apiError {
	l, err := s.cfg.State.Link(p.Link)
	switch {
	case err != nil || l == nil:
		return apiErr(http.StatusServiceUnavailable, "unavailable", "", "payment link %s unreadable: retry shortly", p.Link)
	case len(l.Attempts) == 0 || l.Attempts[len(l.Attempts)-1] != p.ID:
		return apiErr(http.StatusConflict, "link_superseded", "",
			"payment %s was replaced by a newer attempt to pay link %s: it is not sent (nothing charged by it)", p.ID, l.ID)
	}
	return nil
}
