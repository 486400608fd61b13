package pipeline

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// TagNotProcessed in DE48 tells a register that the node did nothing with
// the request, so resending it unchanged to the active is safe.
const TagNotProcessed = "NP"

// Outcome is one request the pipeline answered with a final answer.
type Outcome struct {
	Request *wire.Message
	// Txn is the transaction as committed; for a request declined without
	// being recorded (a bad card, a bad amount) a Txn with no ID.
	Txn *store.Txn
	// Kind is the transaction type (purchase, refund, ...).
	Kind string
	// Source is what answered: SourceAcquirer, SourceDuplicate,
	// SourceLocal or SourceStandIn.
	Source string
	// AcquirerTime is how long the request waited on acquirers (DE48 AQ);
	// 0 when none was asked for it.
	AcquirerTime time.Duration
}

// Observer learns every outcome the pipeline answers: its metrics and the
// status page's recent declines. Answered must not block.
type Observer interface {
	Answered(o Outcome)
}

// answer builds the register's response from the committed state of its
// transaction; nil when no final state is known. acqTime, when not 0, is
// reported in DE48 AQ.
func (p *Pipeline) answer(req *wire.Message, t *store.Txn, source string, acqTime time.Duration) *wire.Message {
	if t == nil {
		p.metrics.unanswered.Inc()
		return nil
	}
	resp := p.reply(req, p.cfg.Views.Current(), t.RC)
	resp.RRN, resp.AuthCode = t.RRN, t.AuthCode
	if t.StandIn {
		resp.Private.Set(wire.TagStandIn, "1")
		if source == SourceAcquirer {
			source = SourceStandIn
		}
	}
	o := Outcome{Request: req, Txn: t, Kind: kindOf(t, req), Source: source, AcquirerTime: acqTime}
	for _, obs := range p.observers {
		obs.Answered(o)
	}
	if acqTime > 0 {
		resp.Private.Set(wire.TagAcquirerUS, strconv.FormatInt(acqTime.Microseconds(), 10))
	}
	return resp
}

func kindOf(t *store.Txn, req *wire.Message) string {
	if t.ID == "" {
		return store.TypeOf(req.Kind()).String()
	}
	return t.Type.String()
}

// reply is the skeleton of every answer: the request's identity echoed, the
// RC, and where the active is.
func (p *Pipeline) reply(req *wire.Message, v *leadership.View, rc string) *wire.Message {
	resp := &wire.Message{
		MTI:              wire.ResponseMTI(req.MTI),
		ProcCode:         req.ProcCode,
		Amount:           req.Amount,
		HasAmount:        req.HasAmount,
		TransmissionTime: req.TransmissionTime,
		STAN:             req.STAN,
		LocalTime:        req.LocalTime,
		LocalDate:        req.LocalDate,
		ResponseCode:     rc,
		TerminalID:       req.TerminalID,
		MerchantID:       req.MerchantID,
		Currency:         req.Currency,
		OriginalData:     req.OriginalData,
	}
	p.hints(resp, v)
	return resp
}

// hints tell the register where the active is (AN, or NA when no active is
// known), who answered (ND) and in which term (TM).
func (p *Pipeline) hints(resp *wire.Message, v *leadership.View) {
	if v.ActiveAddr != "" {
		resp.Private.Set(wire.TagActiveAddr, v.ActiveAddr)
	} else {
		resp.Private.Set(wire.TagNoActive, "1")
	}
	resp.Private.Set(wire.TagNodeID, p.cfg.NodeID)
	if v.Term > 0 {
		resp.Private.Set(wire.TagTerm, strconv.FormatUint(v.Term, 10))
	}
}

// notProcessed answers a request this node did nothing with because it is
// not the active and could not relay it there.
func (p *Pipeline) notProcessed(req *wire.Message, v *leadership.View) *wire.Message {
	p.metrics.notProcessed.Inc()
	resp := p.reply(req, v, wire.RCIssuerInoperative)
	resp.Private.Set(TagNotProcessed, "1")
	return resp
}

func (p *Pipeline) logRequest(level slog.Level, msg string, req *wire.Message, args ...any) {
	p.log.Log(context.Background(), level, msg, append(args, logkey.Request(req)...)...)
}
