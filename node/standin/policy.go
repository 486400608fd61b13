// Package standin is the stand-in policy: whether the active approves a
// purchase by itself while its acquirer is out (down, at its in-flight cap,
// timed out, or answering 91), and the reservations of the stand-ins being
// decided at this moment.
package standin

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/tillgate/tillgate/node/bins"
	"github.com/tillgate/tillgate/store"
)

// Policy says when the active approves by itself because the acquirer is
// down, timed out or at its in-flight cap. Only purchases are stood in. The
// decision reads committed state (the card's stand-ins of the business day,
// the acquirer's unacknowledged stand-ins) plus what this node is deciding
// right now, and is committed in the OUTCOME together with its advice: every
// replica then counts it the same way.
type Policy struct {
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
	NegativeBINs   []bins.Range
}

// BINLimit is a floor limit for a card range.
type BINLimit struct {
	Low, High string
	Limit     int64
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
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

// Case is what the policy looks at.
type Case struct {
	Type     store.TxnType
	Amount   int64
	Merchant string
	PAN      string // only its prefix is compared; never logged
	PANHash  []byte
	Acquirer string
	Card     store.Sum // the card's stand-ins today, committed and in progress
	Open     store.Sum // the acquirer's unacknowledged stand-ins, likewise
}

// Why a case is not stood in (a metric label).
const (
	RefusedDisabled = "disabled"
	RefusedType     = "type"
	RefusedNegative = "negative_list"
	RefusedFloor    = "floor_limit"
	RefusedVelocity = "velocity"
	RefusedCap      = "offline_cap"
)

// Decide returns "" when the case may be stood in, else why not (a
// Refused... reason).
func (p *Policy) Decide(c Case) string {
	switch {
	case !p.Enabled:
		return RefusedDisabled
	case c.Type != store.TypePurchase || c.Amount <= 0:
		return RefusedType
	case p.negative(c):
		return RefusedNegative
	case c.Amount > p.floor(c):
		return RefusedFloor
	case p.CardCount > 0 && c.Card.Count+1 > p.CardCount,
		p.CardAmount > 0 && c.Card.Amount+c.Amount > p.CardAmount:
		return RefusedVelocity
	}
	if lim := p.offlineCap(c.Acquirer); lim > 0 && c.Open.Amount+c.Amount > lim {
		return RefusedCap
	}
	return ""
}

func (p *Policy) negative(c Case) bool {
	h := hex.EncodeToString(c.PANHash)
	for _, n := range p.NegativeHashes {
		if n == h {
			return true
		}
	}
	for _, r := range p.NegativeBINs {
		if r.Contains(c.PAN) {
			return true
		}
	}
	return false
}

// floor is the lowest floor limit that applies, FloorLimit if none does.
func (p *Policy) floor(c Case) int64 {
	lowest, found := int64(0), false
	consider := func(limit int64) {
		if !found || limit < lowest {
			lowest, found = limit, true
		}
	}
	if v, ok := p.MerchantLimits[c.Merchant]; ok {
		consider(v)
	}
	if mcc, ok := p.MerchantMCC[c.Merchant]; ok {
		if v, ok := p.MCCLimits[mcc]; ok {
			consider(v)
		}
	}
	for _, r := range p.BINLimits {
		if (bins.Range{Low: r.Low, High: r.High}).Contains(c.PAN) {
			consider(r.Limit)
		}
	}
	if !found {
		return p.FloorLimit
	}
	return lowest
}

func (p *Policy) offlineCap(acq string) int64 {
	if v, ok := p.AcquirerCaps[acq]; ok {
		return v
	}
	return p.OfflineCap
}
