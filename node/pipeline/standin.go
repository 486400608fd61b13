package pipeline

import (
	"errors"
	"strings"

	"github.com/tillgate/tillgate/node/internal/card"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/standin"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// tryStandIn decides whether t is stood in. On yes it returns the auth code
// and a release func to call once the OUTCOME is committed (or failed).
func (p *Pipeline) tryStandIn(t *store.Txn, pan, why string) (string, func(), bool) {
	c := standin.Case{Type: t.Type, Amount: t.Amount, Merchant: t.MerchantID, PAN: pan, PANHash: t.PANHash, Acquirer: t.Acquirer}
	cardToday, err1 := p.cfg.State.StandInCard(t.Day, t.PANHash)
	unacknowledged, err2 := p.cfg.State.StandInOpen(t.Acquirer)
	if err := errors.Join(err1, err2); err != nil {
		p.log.Error("stand-in: cannot read the counters, declining", logkey.Txn, t.ID, logkey.Err, err)
		return "", nil, false
	}
	c.Card, c.Open = cardToday, unacknowledged
	reason, release := p.standIns.Decide(&p.cfg.StandIn, c, standin.CardKey(t.Day, t.PANHash))
	if reason != "" {
		p.metrics.standIn.WithLabelValues(t.Acquirer, why, "declined_"+reason).Inc()
		return "", nil, false
	}
	p.metrics.standIn.WithLabelValues(t.Acquirer, why, "approved").Inc()
	return standInAuthCode(t), release, true
}

// standInAuthCode marks a stand-in approval: 'S' and five digits of the
// acquirer STAN, which is unique in its day.
func standInAuthCode(t *store.Txn) string {
	stan := t.AcqSTAN
	if len(stan) > 5 {
		stan = stan[len(stan)-5:]
	}
	return "S" + zeroPad(stan, 5)
}

func zeroPad(s string, w int) string {
	if len(s) >= w {
		return s
	}
	return strings.Repeat("0", w-len(s)) + s
}

// standInFor decides a stand-in for a request the acquirer could not
// answer: st is Declined when it was never sent (down, at its cap), Unknown
// when it timed out. A stand-in on a timeout needs no reversal: its advice
// tells the acquirer the approval stands, whatever it did with the original.
func (p *Pipeline) standInFor(t *store.Txn, req *wire.Message, st store.Status) (string, func(), bool) {
	if !p.cfg.StandIn.Enabled || t.Type != store.TypePurchase {
		return "", nil, false
	}
	why := "unavailable"
	if st == store.StatusUnknown {
		why = "timeout"
	}
	pan := ""
	if req != nil {
		pan = card.Number(req)
	} else if clear, err := p.cfg.Vault.Open(t.PANEnc, t.ID); err == nil {
		pan = clear
	}
	return p.tryStandIn(t, pan, why)
}
