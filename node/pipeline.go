package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// tagNotProcessed in DE48 tells a register that the node did nothing with
// the request, so resending it unchanged to the active is safe.
const tagNotProcessed = "NP"

// handle answers one decoded, validated request. A nil answer means nothing
// final may be said (the outcome is unknown): the register repeats.
func (n *Node) handle(ctx context.Context, req *wire.Message) *wire.Message {
	switch wire.OriginalMTI(req.MTI) {
	case "0800":
		return n.network(req)
	case "0100", "0120", "0200", "0220", "0400", "0420":
		return n.transact(ctx, req, false)
	case "0500", "0320":
		return n.batchRequest(ctx, req)
	default:
		return n.reply(req, n.views.Current(), wire.RCFormatError)
	}
}

func (n *Node) network(req *wire.Message) *wire.Message {
	resp := n.reply(req, n.views.Current(), wire.RCApproved)
	resp.NetworkCode = req.NetworkCode
	return resp
}

// transact runs the authorization path for one financial identity.
// proposed says that this node may already have proposed the request's
// INTENT (carryOn hands such a request on): then the register must never be
// told "not processed", which would let it skip its reversal.
func (n *Node) transact(ctx context.Context, req *wire.Message, proposed bool) *wire.Message {
	v := n.views.Current()
	if !v.Leader {
		return n.relayToActive(ctx, req, proposed)
	}
	if !v.Serving {
		lost := v
		if v = n.views.WaitServing(ctx); v == nil {
			return n.carryOn(ctx, req, lost, proposed)
		}
	}
	key := req.Key()
	c, owner := n.inflight.Join(key)
	if !owner {
		n.metrics.repeatsWaited.Inc()
		select {
		case <-c.Done():
		case <-ctx.Done():
			return nil
		}
		return n.answer(req, c.Txn(), sourceDuplicate)
	}
	var aq time.Duration // set by askAcquirer: the AQ tag of the answer
	t, src := n.transactOwned(context.WithValue(ctx, acqTimeKey{}, &aq), req, key)
	n.inflight.Finish(key, c, t)
	if t == nil {
		return n.carryOn(ctx, req, v, true)
	}
	resp := n.answer(req, t, src)
	if resp != nil && aq > 0 {
		resp.Private.Set(wire.TagAcquirerUS, strconv.FormatInt(aq.Microseconds(), 10))
	}
	return resp
}

// acqTimeKey holds a *time.Duration in the context for the acquirer round trip.
type acqTimeKey struct{}

// carryOnPoll is how often carryOn looks for the next active.
const carryOnPoll = 20 * time.Millisecond

// carryOn handles a request that got no answer while this node led in the
// term of lost. If the node has lost that leadership since (a new term or a
// follower now), the request's outcome is unknown here: instead of leaving
// the register to wait for its attempt timeout and repeat, carryOn waits for
// the next active and hands the request on as a repeat (relayed, or handled
// here if this node leads again), which is exactly what the register's own
// repeat would do: the new active answers what an INTENT recorded, resolves
// an open one, or authorizes one that never got appended. Still leading in
// the same term, or no new active before ctx ends: no answer, as before.
func (n *Node) carryOn(ctx context.Context, req *wire.Message, lost *leadership.View, proposed bool) *wire.Message {
	if v := n.views.Current(); v.Leader && v.Term == lost.Term {
		return nil
	}
	t := time.NewTicker(carryOnPoll)
	defer t.Stop()
	for {
		if v := n.views.Current(); v.Term > lost.Term && (v.Leader || v.ActiveAddr != "") {
			break
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		case <-n.ctx.Done(): // closing: no next active will show here
			return nil
		}
	}
	n.metrics.carriedOn.Inc()
	rep := *req
	rep.MTI = wire.RepeatMTI(req.MTI)
	return n.transact(ctx, &rep, proposed)
}

const (
	sourceAcquirer  = "acquirer"
	sourceDuplicate = "duplicate"
	sourceLocal     = "local"
	sourceStandIn   = "stand-in" // approved by this cluster while the acquirer was out
)

func (n *Node) transactOwned(ctx context.Context, req *wire.Message, key string) (*store.Txn, string) {
	// Only a repeat is looked up before its INTENT: for a first request the
	// INTENT finds an identity already recorded anyway (r.Existed below),
	// and a read transaction per request is a cost every transaction pays.
	if !wire.IsRepeat(req.MTI) {
		return n.transactNew(ctx, req, key)
	}
	if t, ok, err := n.store.Get(key); err != nil {
		n.log.Error("duplicate check failed", keyErr, err)
		return nil, ""
	} else if ok {
		if t.Status != store.StatusPending {
			return t, sourceDuplicate
		}
		// An INTENT of an earlier term the takeover has not reached yet.
		return n.resolve(ctx, t, nil, true), sourceAcquirer
	}
	return n.transactNew(ctx, req, key)
}

// transactNew commits the INTENT of req and sees it through, or answers
// what an INTENT of the same identity recorded before.
func (n *Node) transactNew(ctx context.Context, req *wire.Message, key string) (*store.Txn, string) {
	term := n.views.Current().Term
	t, rc := n.newTxn(ctx, req)
	if rc != "" {
		return &store.Txn{RC: rc, Status: store.StatusDeclined}, sourceLocal
	}
	start := time.Now()
	res, err := n.raft.Apply(ctx, store.IntentCmd(t))
	n.metrics.commit.Observe(time.Since(start).Seconds())
	if err != nil {
		if !errors.Is(err, cluster.ErrNotLeader) {
			n.log.Warn("intent outcome unknown", keyID, key, keyErr, err)
		}
		// Not leader: never appended. Otherwise it may be in the log: no
		// final answer either way; carryOn or the register's repeat finds
		// out.
		return nil, ""
	}
	r, ok := res.(store.Result)
	if !ok || r.Err != nil {
		err := resultErr(res)
		n.stateMachineError("intent", key, err)
		if errors.Is(err, store.ErrFailed) {
			// The INTENT is in the log and another replica will apply
			// it (the next active resolves it): any answer from here
			// could be contradicted.
			return nil, ""
		}
		// Refused by the rules, the same on every replica: nothing was
		// recorded anywhere.
		return &store.Txn{RC: wire.RCSystemError, Status: store.StatusDeclined}, sourceLocal
	}
	if r.Existed {
		if r.Txn.Status != store.StatusPending {
			return r.Txn, sourceDuplicate
		}
		return n.resolve(ctx, r.Txn, nil, true), sourceAcquirer
	}
	if r.Txn.Status != store.StatusPending {
		// Final on arrival: its reversal came first (store.RCReversedFirst).
		return r.Txn, sourceLocal
	}
	return n.resolveFirst(ctx, r.Txn, req, term), sourceAcquirer
}

// stateMachineError logs a command the store refused. A store that could not
// commit (store.ErrFailed) has stopped applying while Raft goes on: the node
// must stop too, not answer from a replica that no longer follows the log.
func (n *Node) stateMachineError(what, id string, err error) {
	n.log.Error(what+" rejected by the state machine", keyID, id, keyErr, err)
	if errors.Is(err, store.ErrFailed) {
		n.fail(fmt.Errorf("node: state machine stopped: %w", err))
	}
}

func resultErr(res any) error {
	if r, ok := res.(store.Result); ok {
		return r.Err
	}
	return errors.New("unexpected state machine result")
}

// newTxn turns a request into the INTENT to commit. A non-empty rc declines
// the request without storing it: nothing was authorized, and a repeat gets
// the same answer for the same reason. The acquirer STAN and the RRN are
// left to Apply, which takes them from the replicated state.
func (n *Node) newTxn(ctx context.Context, req *wire.Message) (*store.Txn, string) {
	t := &store.Txn{
		ID:               req.Key(),
		MTI:              wire.OriginalMTI(req.MTI),
		ProcCode:         req.ProcCode,
		Amount:           req.Amount,
		Currency:         req.Currency,
		TerminalID:       req.TerminalID,
		MerchantID:       req.MerchantID,
		STAN:             req.STAN,
		TransmissionTime: req.TransmissionTime,
		LocalTime:        req.LocalTime,
		LocalDate:        req.LocalDate,
		CreatedAt:        time.Now().UnixNano(),
	}
	t.Type = txnType(t.MTI, req.ProcCode)
	if t.MTI == "0120" {
		// An advice of what the register approved offline: its approval
		// code is the answer, and stays with the INTENT so that a new
		// active answers the same.
		t.AuthCode = adviceAuthCode(req)
	}
	pan := cardNumber(req)
	if t.Type == store.TypeCompletion || t.Type == store.TypeReversal {
		orig, rc := n.original(ctx, req, t.Type)
		if rc != "" {
			return nil, rc
		}
		// Set even when the original is unknown: the store then cancels
		// the original should it arrive after its reversal.
		t.OriginalID = originalKey(req)
		if orig != nil {
			t.PANEnc, t.BIN, t.Last4, t.PANHash = orig.PANEnc, orig.BIN, orig.Last4, orig.PANHash
			t.Acquirer = orig.Acquirer // a reversal or completion goes where its original went
			if t.MerchantID == "" {
				t.MerchantID = orig.MerchantID
			}
		}
	}
	if t.PANEnc == nil && pan != "" {
		if !wire.ValidatePAN(pan) {
			return nil, wire.RCInvalidCard
		}
		enc, bin, last4, hash, err := n.vault.Seal(pan)
		if err != nil {
			n.log.Error("card vault", keyErr, err)
			return nil, wire.RCSystemError
		}
		t.PANEnc, t.BIN, t.Last4, t.PANHash = enc, bin, last4, hash
	}
	if t.PANEnc == nil && t.Type != store.TypeReversal {
		return nil, wire.RCInvalidCard
	}
	if t.Amount <= 0 && t.Type != store.TypeBalance && t.Type != store.TypeReversal {
		return nil, wire.RCInvalidAmount
	}
	if t.Acquirer == "" {
		t.Acquirer = n.acquirers.Route(pan)
	}
	t.AcqTime = time.Now().UTC().Format("0102150405")
	return t, ""
}

// adviceAuthCode is the approval code of an 0120: the register's DE38, or
// one made from its identity when it sent none.
func adviceAuthCode(req *wire.Message) string {
	if req.AuthCode != "" {
		return req.AuthCode
	}
	return "Y" + req.STAN[1:]
}

// original finds the transaction that DE90 of a completion or reversal
// names, once it is settled: one still in progress here is waited for, and
// one left open (pending, nobody working on it) is resolved first, so that a
// reversal never reaches the acquirer before what it reverses. A reversal
// whose original is unknown is still recorded (and acknowledged): the
// register gave up on it, and nothing was authorized here. A completion
// needs an approved original.
func (n *Node) original(ctx context.Context, req *wire.Message, typ store.TxnType) (*store.Txn, string) {
	if len(req.OriginalData) < 20 {
		return nil, wire.RCFormatError
	}
	key := originalKey(req)
	orig, err := n.settled(ctx, key)
	switch {
	case err != nil:
		n.log.Error("original lookup", keyID, key, keyErr, err)
		return nil, wire.RCSystemError
	case typ == store.TypeReversal:
		return orig, ""
	case orig == nil || orig.Status != store.StatusApproved:
		return nil, upstream.RCNoOriginal
	default:
		return orig, ""
	}
}

// settled returns transaction id once nothing is working on it: it waits
// for this node's call in flight, and resolves an open INTENT nobody owns.
// It returns the transaction as it then stands (nil if unknown); it may
// still be pending when its resolution failed (the store then settles a
// reversal of it when the outcome comes: store.reversedWhilePending).
func (n *Node) settled(ctx context.Context, id string) (*store.Txn, error) {
	if err := n.inflight.Wait(ctx, id); err != nil {
		return nil, err
	}
	t, ok, err := n.store.Get(id)
	if err != nil || !ok {
		return nil, err
	}
	if t.Status != store.StatusPending {
		return t, nil
	}
	if c := n.inflight.ClaimWhenFree(ctx, id); c != nil {
		r := n.resolveOpen(ctx, id)
		n.inflight.Finish(id, c, r)
		if r != nil {
			return r, nil
		}
	}
	if t, ok, err = n.store.Get(id); err != nil || !ok {
		return nil, err
	}
	return t, nil
}

// originalKey is the identity DE90 names: the same terminal, the original
// STAN and DE7.
func originalKey(req *wire.Message) string {
	return req.TerminalID + req.OriginalData[4:10] + req.OriginalData[10:20]
}

// cardNumber is DE2, or the PAN part of track 2 when the card was swiped.
func cardNumber(req *wire.Message) string {
	if req.PAN != "" {
		return req.PAN
	}
	if i := strings.IndexAny(req.Track2, "=D"); i > 0 {
		return req.Track2[:i]
	}
	return ""
}

func txnType(mti, proc string) store.TxnType {
	switch mti {
	case "0100", "0120":
		return store.TypePreAuth
	case "0220":
		return store.TypeCompletion
	case "0400", "0420":
		return store.TypeReversal
	}
	switch {
	case strings.HasPrefix(proc, "20"):
		return store.TypeRefund
	case strings.HasPrefix(proc, "09"):
		return store.TypeCashback
	case strings.HasPrefix(proc, "31"):
		return store.TypeBalance
	}
	return store.TypePurchase
}

// answer builds the register's response from the committed state of its
// transaction; nil when no final state is known.
func (n *Node) answer(req *wire.Message, t *store.Txn, source string) *wire.Message {
	if t == nil {
		n.metrics.unanswered.Inc()
		return nil
	}
	resp := n.reply(req, n.views.Current(), t.RC)
	resp.RRN, resp.AuthCode = t.RRN, t.AuthCode
	if t.StandIn {
		resp.Private.Set(wire.TagStandIn, "1")
		if source == sourceAcquirer {
			source = sourceStandIn
		}
	}
	n.metrics.transactions.WithLabelValues(kindOf(t, req), t.RC, source).Inc()
	n.noteDecline(req, t, source)
	return resp
}

func kindOf(t *store.Txn, req *wire.Message) string {
	if t.ID == "" {
		return txnType(wire.OriginalMTI(req.MTI), req.ProcCode).String()
	}
	return t.Type.String()
}

// reply is the skeleton of every answer: the request's identity echoed, the
// RC, and where the active is.
func (n *Node) reply(req *wire.Message, v *leadership.View, rc string) *wire.Message {
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
	n.hints(resp, v)
	return resp
}

func (n *Node) hints(resp *wire.Message, v *leadership.View) {
	if v.ActiveAddr != "" {
		resp.Private.Set(wire.TagActiveAddr, v.ActiveAddr)
	} else {
		resp.Private.Set(wire.TagNoActive, "1")
	}
	resp.Private.Set(wire.TagNodeID, n.cfg.ID)
	if v.Term > 0 {
		resp.Private.Set(wire.TagTerm, strconv.FormatUint(v.Term, 10))
	}
}

// notProcessed answers a request this node did nothing with because it is
// not the active and could not relay it there.
func (n *Node) notProcessed(req *wire.Message, v *leadership.View) *wire.Message {
	n.metrics.notProcessed.Inc()
	resp := n.reply(req, v, wire.RCIssuerInoperative)
	resp.Private.Set(tagNotProcessed, "1")
	return resp
}

func (n *Node) logRequest(level slog.Level, msg string, req *wire.Message, args ...any) {
	args = append(args, keyMTI, req.MTI, keySTAN, req.STAN, keyTerminal, req.TerminalID, keyPAN, wire.MaskPAN(cardNumber(req)))
	n.log.Log(context.Background(), level, msg, args...)
}
