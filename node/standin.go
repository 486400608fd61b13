package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// StandInPolicy says when the active approves by itself because the
// acquirer is down, timed out or at its in-flight cap. Only purchases are
// stood in. The decision reads committed state (the card's stand-ins of
// the business day, the acquirer's unacknowledged stand-ins) plus what this
// node is deciding right now, and is committed in the OUTCOME together with
// its advice: every replica then counts it the same way.
type StandInPolicy struct {
	Enabled bool
	// FloorLimit is the largest amount (minor units) stood in where no more
	// specific limit applies; 0 stands in nothing there.
	FloorLimit int64
	// Floor limits by merchant id (DE42), by merchant category code (the
	// wire carries no DE18, so MerchantMCC maps merchants to their MCC) and
	// by card range. Where several apply the lowest wins.
	MerchantLimits map[string]int64
	MCCLimits      map[string]int64
	MerchantMCC    map[string]string
	BINLimits      []BINLimit
	// Velocity per card (keyed PAN hash) and business day; 0: no limit.
	CardCount  int64
	CardAmount int64
	// OfflineCap bounds the amount of an acquirer's stand-ins it has not
	// acknowledged yet (AcquirerCaps overrides it per acquirer); 0: none.
	OfflineCap   int64
	AcquirerCaps map[string]int64
	// The negative list: keyed PAN hashes (hex, as tillctl tx show prints
	// them) and card ranges never stood in.
	NegativeHashes []string
	NegativeBINs   []BINRange
}

// BINLimit is a floor limit for a card range.
type BINLimit struct {
	Low, High string
	Limit     int64
}

// Validate reports a policy that cannot be applied.
func (p StandInPolicy) Validate() error {
	var errs []error
	for _, h := range p.NegativeHashes {
		if _, err := hex.DecodeString(h); err != nil || h == "" {
			errs = append(errs, fmt.Errorf("stand_in.negative_hashes: %q is not hex", h))
		}
	}
	for _, r := range p.BINLimits {
		if err := validRange(r.Low, r.High); err != nil {
			errs = append(errs, fmt.Errorf("stand_in.bin_limits: %w", err))
		}
	}
	for _, r := range p.NegativeBINs {
		if err := validRange(r.Low, r.High); err != nil {
			errs = append(errs, fmt.Errorf("stand_in.negative_bins: %w", err))
		}
	}
	if p.FloorLimit < 0 || p.CardCount < 0 || p.CardAmount < 0 || p.OfflineCap < 0 {
		errs = append(errs, errors.New("stand_in: limits must not be negative"))
	}
	return errors.Join(errs...)
}

func validRange(low, high string) error {
	if low == "" || len(low) != len(high) || len(low) > 11 || !allDigits(low) || !allDigits(high) || low > high {
		return fmt.Errorf("range %q-%q: want two bounds of the same 1-11 digits, low <= high", low, high)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func inRange(pan, low, high string) bool {
	if len(pan) < len(low) {
		return false
	}
	p := pan[:len(low)]
	return p >= low && p <= high
}

// standInCase is what the policy looks at.
type standInCase struct {
	Type     store.TxnType
	Amount   int64
	Merchant string
	PAN      string // only its prefix is compared; never logged
	PANHash  []byte
	Acquirer string
	Card     store.Sum // the card's stand-ins today, committed and in progress
	Open     store.Sum // the acquirer's unacknowledged stand-ins, likewise
}

// Stand-in refusal reasons (a metric label).
const (
	standInOff      = "disabled"
	standInType     = "type"
	standInNegative = "negative_list"
	standInFloor    = "floor_limit"
	standInVelocity = "velocity"
	standInCap      = "offline_cap"
)

// decide returns "" when the case may be stood in, else the reason not.
func (p *StandInPolicy) decide(c standInCase) string {
	switch {
	case !p.Enabled:
		return standInOff
	case c.Type != store.TypePurchase || c.Amount <= 0:
		return standInType
	case p.negative(c):
		return standInNegative
	case c.Amount > p.floor(c):
		return standInFloor
	case p.CardCount > 0 && c.Card.Count+1 > p.CardCount,
		p.CardAmount > 0 && c.Card.Amount+c.Amount > p.CardAmount:
		return standInVelocity
	}
	if lim := p.offlineCap(c.Acquirer); lim > 0 && c.Open.Amount+c.Amount > lim {
		return standInCap
	}
	return ""
}

func (p *StandInPolicy) negative(c standInCase) bool {
	h := hex.EncodeToString(c.PANHash)
	for _, n := range p.NegativeHashes {
		if n == h {
			return true
		}
	}
	for _, r := range p.NegativeBINs {
		if inRange(c.PAN, r.Low, r.High) {
			return true
		}
	}
	return false
}

// floor is the lowest floor limit that applies, FloorLimit if none does.
func (p *StandInPolicy) floor(c standInCase) int64 {
	lim, found := int64(0), false
	take := func(v int64) {
		if !found || v < lim {
			lim, found = v, true
		}
	}
	if v, ok := p.MerchantLimits[c.Merchant]; ok {
		take(v)
	}
	if mcc, ok := p.MerchantMCC[c.Merchant]; ok {
		if v, ok := p.MCCLimits[mcc]; ok {
			take(v)
		}
	}
	for _, r := range p.BINLimits {
		if inRange(c.PAN, r.Low, r.High) {
			take(r.Limit)
		}
	}
	if !found {
		return p.FloorLimit
	}
	return lim
}

func (p *StandInPolicy) offlineCap(acq string) int64 {
	if v, ok := p.AcquirerCaps[acq]; ok {
		return v
	}
	return p.OfflineCap
}

// standIns holds the stand-ins this active has decided but not yet
// committed, so that concurrent requests of one card (or acquirer) cannot
// all pass a limit that only one of them fits under.
type standIns struct {
	mu   sync.Mutex
	card map[string]store.Sum
	acq  map[string]store.Sum
}

func newStandIns() *standIns {
	return &standIns{card: map[string]store.Sum{}, acq: map[string]store.Sum{}}
}

func (s *standIns) pending(cardKey, acq string) (card, open store.Sum) {
	return s.card[cardKey], s.acq[acq]
}

func (s *standIns) add(cardKey, acq string, amount, sign int64) {
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
	bump(s.card, cardKey)
	bump(s.acq, acq)
}

func addSum(a, b store.Sum) store.Sum {
	return store.Sum{Count: a.Count + b.Count, Amount: a.Amount + b.Amount}
}

// tryStandIn decides whether t is stood in. On yes it returns the auth code
// and a release func to call once the OUTCOME is committed (or failed).
func (n *Node) tryStandIn(t *store.Txn, pan, why string) (string, func(), bool) {
	c := standInCase{Type: t.Type, Amount: t.Amount, Merchant: t.MerchantID, PAN: pan, PANHash: t.PANHash, Acquirer: t.Acquirer}
	cardKey := t.Day + "|" + string(t.PANHash)
	card, err1 := n.store.StandInCard(t.Day, t.PANHash)
	open, err2 := n.store.StandInOpen(t.Acquirer)
	if err := errors.Join(err1, err2); err != nil {
		n.log.Error("stand-in: cannot read the counters, declining", keyID, t.ID, keyErr, err)
		return "", nil, false
	}
	s := n.standIns
	s.mu.Lock()
	defer s.mu.Unlock()
	pc, po := s.pending(cardKey, t.Acquirer)
	c.Card, c.Open = addSum(card, pc), addSum(open, po)
	if reason := n.cfg.StandIn.decide(c); reason != "" {
		n.metrics.standIn.WithLabelValues(t.Acquirer, why, "declined_"+reason).Inc()
		return "", nil, false
	}
	s.add(cardKey, t.Acquirer, t.Amount, 1)
	n.metrics.standIn.WithLabelValues(t.Acquirer, why, "approved").Inc()
	release := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.add(cardKey, t.Acquirer, t.Amount, -1)
	}
	return standInAuthCode(t), release, true
}

// standInAuthCode marks a stand-in approval: 'S' and five digits of the
// acquirer STAN, which is unique in its day.
func standInAuthCode(t *store.Txn) string {
	stan := t.AcqSTAN
	if len(stan) > 5 {
		stan = stan[len(stan)-5:]
	}
	return "S" + pad(stan, 5)
}

// standInFor decides a stand-in for a request the acquirer could not
// answer: st is Declined when it was never sent (down, at its cap), Unknown
// when it timed out. A stand-in on a timeout needs no reversal: its advice
// tells the acquirer the approval stands, whatever it did with the original.
func (n *Node) standInFor(t *store.Txn, req *wire.Message, st store.Status) (string, func(), bool) {
	if !n.cfg.StandIn.Enabled || t.Type != store.TypePurchase {
		return "", nil, false
	}
	why := "unavailable"
	if st == store.StatusUnknown {
		why = "timeout"
	}
	pan := ""
	if req != nil {
		pan = cardNumber(req)
	} else if p, err := n.vault.Open(t.PANEnc); err == nil {
		pan = p
	}
	return n.tryStandIn(t, pan, why)
}
