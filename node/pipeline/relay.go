package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/wire"
)

// Results of a relay, the label values of tillgate_relayed_requests_total.
const (
	relayAnswered = "answered"  // the active's answer went back to the register
	relayNoActive = "no_active" // no active known (or it is this node): answered NP
	relayNotSent  = "not_sent"  // never written to the active: answered NP
	relayInFlight = "in_flight" // a copy of the same identity is being relayed: no answer
	relayUnknown  = "unknown"   // written, no answer: no answer, the register repeats
)

// relayToActive forwards req, unchanged and with the register's identity, to
// the active and returns the active's answer, which carries the active's own
// hints. A standby never authorizes (nothing here touches the store or Raft):
// it answers NP only when the active provably never saw the request, and
// nothing when it may have, so that the register repeats.
//
// proposed says that this node may have proposed the request's INTENT
// itself while it led (the carry-on): then even a relay that never left
// says nothing, since NP would tell the register that nothing happened.
func (p *Pipeline) relayToActive(ctx context.Context, req *wire.Message, proposed bool) *wire.Message {
	from := p.cfg.Views.Current()
	link := p.cfg.Relay.Link()
	if link == nil {
		p.metrics.relayed.WithLabelValues(relayNoActive).Inc()
		return p.notProcessedUnless(req, proposed)
	}
	// The register's deadline is far beyond the active's: give the active
	// its whole time even though this request's own bound is the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.RelayTimeout)
	defer cancel()
	start := time.Now()
	resp, err := link.Send(ctx, req)
	p.metrics.relayDuration.Observe(time.Since(start).Seconds())
	result := relayResult(err)
	p.metrics.relayed.WithLabelValues(result).Inc()
	switch result {
	case relayAnswered:
		return resp
	case relayNotSent:
		return p.notProcessedUnless(req, proposed)
	case relayInFlight:
		// The register repeated while its first copy is still with the
		// active: that one is being processed, so NP would be a lie that
		// could make the register skip its reversal. The first copy's
		// answer reaches the register, or it repeats. (Two standbys whose
		// views point at each other for a moment end up here as well,
		// and the register's repeat finds the views settled.)
		return nil
	default:
		p.logRequest(slog.LevelWarn, "relay: no answer from the active, outcome unknown", req, logkey.Err, err)
		// The active may have died or been cut off with the request: as
		// the carry-on does, hand it on to the next active as a repeat
		// rather than leave the register to its attempt timeout.
		if resp := p.repeatAtNextActive(ctx, req, from, true); resp != nil {
			return resp
		}
		p.metrics.unanswered.Inc()
		return nil
	}
}

// notProcessedUnless answers NP, or nothing when this node may have
// proposed req.
func (p *Pipeline) notProcessedUnless(req *wire.Message, proposed bool) *wire.Message {
	if proposed {
		p.metrics.unanswered.Inc()
		return nil
	}
	return p.notProcessed(req, p.cfg.Views.Current())
}

// relayResult classifies Send's error. ErrInFlight wraps ErrUnavailable, so
// it is tested first.
func relayResult(err error) string {
	switch {
	case err == nil:
		return relayAnswered
	case errors.Is(err, acquirer.ErrInFlight):
		return relayInFlight
	case errors.Is(err, acquirer.ErrUnavailable):
		return relayNotSent
	default:
		return relayUnknown
	}
}
