package standin

import (
	"sync"

	"github.com/tillgate/tillgate/store"
)

// Reservations are the stand-ins this active has decided but not yet
// committed, so that concurrent requests of one card (or acquirer) cannot
// all pass a limit that only one of them fits under.
type Reservations struct {
	mu   sync.Mutex
	card map[string]store.Sum // by day|keyed PAN hash
	acq  map[string]store.Sum // by acquirer
}

// NewReservations returns an empty set.
func NewReservations() *Reservations {
	return &Reservations{card: map[string]store.Sum{}, acq: map[string]store.Sum{}}
}

// CardKey names a card's stand-ins of a business day.
func CardKey(day string, panHash []byte) string { return day + "|" + string(panHash) }

// Decide decides c under p, counting the stand-ins in progress on top of
// the committed counters c carries. On yes ("") it reserves c's amount
// until release is called (once its OUTCOME is committed, or failed);
// otherwise it returns why not and a nil release.
func (r *Reservations) Decide(p *Policy, c Case, cardKey string) (reason string, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pendingCard, pendingOpen := r.card[cardKey], r.acq[c.Acquirer]
	c.Card, c.Open = addSum(c.Card, pendingCard), addSum(c.Open, pendingOpen)
	if reason := p.Decide(c); reason != "" {
		return reason, nil
	}
	r.add(cardKey, c.Acquirer, c.Amount, 1)
	return "", func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.add(cardKey, c.Acquirer, c.Amount, -1)
	}
}

// add moves the reservations of a card and an acquirer by sign times one
// stand-in of amount. r.mu must be held.
func (r *Reservations) add(cardKey, acq string, amount, sign int64) {
	bump := func(m map[string]store.Sum, k string) {
		v := m[k]
		v.Count += sign
		v.Amount += sign * amount
		if v.Count == 0 {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	bump(r.card, cardKey)
	bump(r.acq, acq)
}

func addSum(a, b store.Sum) store.Sum {
	return store.Sum{Count: a.Count + b.Count, Amount: a.Amount + b.Amount}
}
