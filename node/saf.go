package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// SAFConfig tunes the store-and-forward sender, which delivers the advices
// and reversals owed to acquirers (the queue itself is replicated state).
type SAFConfig struct {
	// MinBackoff is the wait after an entry's first failed attempt; it
	// doubles per attempt up to MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// SkipAfter attempts of one entry without an acknowledgement, the
	// sender moves past it (it stays queued and is retried after its
	// backoff), so that one bad entry never holds up the rest.
	SkipAfter int
	// Poll is how often an idle sender looks at its queue anyway (it is
	// also woken whenever this node queues something).
	Poll time.Duration
}

// DefaultSAFConfig: retry after 1 s, 2 s, ... up to 1 min; skip past an
// entry after 5 attempts.
func DefaultSAFConfig() SAFConfig {
	return SAFConfig{MinBackoff: time.Second, MaxBackoff: time.Minute, SkipAfter: 5, Poll: time.Second}
}

// Validate reports settings the sender cannot work with.
func (c SAFConfig) Validate() error {
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.SkipAfter < 1 || c.Poll <= 0 {
		return fmt.Errorf("saf: min_backoff %v, max_backoff %v, skip_after %d, poll %v: want 0 < min <= max, skip_after >= 1, poll > 0",
			c.MinBackoff, c.MaxBackoff, c.SkipAfter, c.Poll)
	}
	return nil
}

// outcomeCmd is the OUTCOME command of decision d for t. Whatever d owes
// the acquirer (a reversal of an unknown outcome, a stand-in's advice, a
// forwarded reversal or completion) is enqueued by the same command, so
// nothing owed can be lost between two commits. The entries' acquirer
// identities come from the replicated state (store: enqueue).
func (n *Node) outcomeCmd(t *store.Txn, d decision) []byte {
	o := store.Outcome{ID: t.ID, Status: d.st, RC: d.rc, AuthCode: d.auth, StandIn: d.standIn, At: time.Now().UnixNano(), Repeat: d.repeat}
	if len(d.owed) == 0 {
		return store.OutcomeCmd(o)
	}
	entries := make([]store.SAFEntry, len(d.owed))
	for i, k := range d.owed {
		entries[i] = store.SAFEntry{Acquirer: n.acquirers.Resolve(t.Acquirer), Kind: k}
	}
	return store.OutcomeSAFCmd(o, entries...)
}

// safTry is what the active remembers of one entry's attempts. It is not
// replicated: a new active starts counting afresh (and sends as a repeat).
type safTry struct {
	attempts int
	next     time.Time
	// notYet: the last answer was "no such original" within the late
	// window; the entry waits without holding up the ones after it.
	notYet bool
}

// safSender delivers one acquirer's queue, one entry at a time, in order.
type safSender struct {
	n       *Node
	name    string        // the acquirer
	wake    chan struct{} // something was queued
	cfg     SAFConfig
	log     *slog.Logger
	started int64 // unix nanos: entries older may have been sent by a predecessor
	tries   map[uint64]*safTry
	page    int           // entries read at a time
	late    time.Duration // lateWindow: until then a 25 to a reversal is not taken

	// send and commit are the acquirer link's Send and Raft's Apply (tests
	// put fakes in their place).
	send   func(context.Context, *wire.Message) (*wire.Message, error)
	commit func(context.Context, []byte) (any, error)
}

// runSAF runs a sender per acquirer until ctx (the term) ends. Entries owed
// to an acquirer that is no longer configured cannot be sent: they are
// reported (here, and in the queue metrics and /status) until an operator
// configures that acquirer again.
func (n *Node) runSAF(ctx context.Context) {
	if stats, err := n.store.SAFStats(); err == nil {
		for name, st := range stats {
			if !n.acquirers.Configured(name) {
				n.log.Error("saf: entries owed to an acquirer that is not configured: not sent until it is configured again",
					"acquirer", name, "depth", st.Depth, "oldest", time.Unix(0, st.Oldest).UTC())
			}
		}
	}
	for _, name := range n.acquirers.Names() {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.newSAFSender(name, n.safWake[name], n.acquirers.Link(name).Send, n.raft.Apply).run(ctx)
		}()
	}
}

func (n *Node) newSAFSender(name string, wake chan struct{}, send func(context.Context, *wire.Message) (*wire.Message, error),
	commit func(context.Context, []byte) (any, error)) *safSender {
	return &safSender{n: n, name: name, wake: wake, cfg: n.cfg.SAF, log: n.log.With("acquirer", name, "component", "saf"),
		started: time.Now().UnixNano(), tries: map[uint64]*safTry{}, page: safPage, late: n.lateWindow(), send: send, commit: commit}
}

// pokeSAF wakes the sender of an acquirer after something was queued.
func (n *Node) pokeSAF(name string) {
	if wake := n.safWake[name]; wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

func (s *safSender) run(ctx context.Context) {
	s.log.Info("saf sender started")
	defer s.log.Info("saf sender stopped")
	for ctx.Err() == nil {
		wait := s.pass(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// safPage is how many entries the sender reads at a time.
const safPage = 1024

// pass walks the queue in order and returns how long to wait before the
// next pass. An entry in its backoff holds up the ones after it until it
// has failed SkipAfter times; then the sender skips past it. The queue is
// read a page at a time, so entries behind a long stuck stretch are
// reached too.
func (s *safSender) pass(ctx context.Context) time.Duration {
	wait := s.cfg.Poll
	if s.n.halted() != nil {
		return wait // this node has stopped: nothing it sends could be recorded
	}
	var after uint64
	live := map[uint64]bool{}
	defer s.forget(live)
	for {
		entries, err := s.n.store.SAFQueue(s.name, after, s.page)
		if err != nil {
			s.log.Error("cannot read the queue", keyErr, err)
			return s.cfg.Poll
		}
		if len(entries) == 0 {
			return wait
		}
		for _, e := range entries {
			live[e.Seq] = true
			if ctx.Err() != nil {
				return 0
			}
			w, next := s.visit(ctx, e)
			wait = min(wait, w)
			if !next {
				return wait
			}
		}
		after = entries[len(entries)-1].Seq
	}
}

// visit tries entry e if it is due. It returns how long until the sender
// should look again, and whether it may go on to the next entry.
func (s *safSender) visit(ctx context.Context, e store.SAFEntry) (time.Duration, bool) {
	tr := s.tries[e.Seq]
	if now := time.Now(); tr != nil && now.Before(tr.next) {
		return tr.next.Sub(now), tr.attempts >= s.cfg.SkipAfter || tr.notYet
	}
	switch s.deliver(ctx, e, tr) {
	case safAcked:
		delete(s.tries, e.Seq)
		return s.cfg.Poll, true
	case safUnavailable:
		// The acquirer is down: not the entry's fault, so no attempt is
		// counted; wait for the link.
		return s.cfg.MinBackoff, false
	case safFailed:
		tr = s.failed(e)
		return time.Until(tr.next), tr.attempts >= s.cfg.SkipAfter
	case safNotYet:
		tr = s.tries[e.Seq] // set by deliver: it was sent
		tr.notYet, tr.next = true, time.Now().Add(s.cfg.MinBackoff)
		return s.cfg.MinBackoff, true
	default: // safStopped
		return 0, false
	}
}

// forget drops the attempts of entries no longer queued (acknowledged);
// live is every entry the pass saw (a pass that stopped early saw only
// some: entries it did not reach keep their attempts).
func (s *safSender) forget(live map[uint64]bool) {
	if len(s.tries) == 0 || len(live) == 0 {
		return
	}
	var last uint64
	for seq := range live {
		last = max(last, seq)
	}
	for seq := range s.tries {
		if seq <= last && !live[seq] {
			delete(s.tries, seq)
		}
	}
}

func (s *safSender) failed(e store.SAFEntry) *safTry {
	tr := s.tries[e.Seq]
	if tr == nil {
		tr = &safTry{}
		s.tries[e.Seq] = tr
	}
	tr.attempts++
	tr.notYet = false
	backoff := s.cfg.MinBackoff << min(tr.attempts-1, 20)
	tr.next = time.Now().Add(min(backoff, s.cfg.MaxBackoff))
	if tr.attempts == s.cfg.SkipAfter {
		s.n.metrics.safSkipped.WithLabelValues(s.name).Inc()
		s.log.Error("saf entry still unacknowledged, skipping past it (it stays queued)",
			"seq", e.Seq, "kind", e.Kind.String(), keyID, e.TxnID, "attempts", tr.attempts)
	}
	return tr
}

type safResult int

const (
	safAcked safResult = iota
	safUnavailable
	safFailed
	safNotYet // a reversal whose original the acquirer may not have yet
	safStopped
)

// deliver sends one entry and commits the acknowledgement.
func (s *safSender) deliver(ctx context.Context, e store.SAFEntry, tr *safTry) safResult {
	t, ok, err := s.n.store.Get(e.TxnID)
	if err != nil || !ok {
		s.log.Error("saf entry names no transaction", "seq", e.Seq, keyID, e.TxnID, keyErr, err)
		return safFailed
	}
	repeat := tr != nil || e.CreatedAt < s.started
	m, err := s.n.safMessage(e, t, repeat)
	if err != nil {
		s.log.Error("saf entry cannot be built", "seq", e.Seq, keyID, e.TxnID, keyErr, err)
		return safFailed
	}
	resp, err := s.send(ctx, m)
	s.n.metrics.safSent.WithLabelValues(s.name, e.Kind.String(), boolLabel(repeat)).Inc()
	if !errors.Is(err, acquirer.ErrUnavailable) && s.tries[e.Seq] == nil {
		// It may have reached the acquirer: whatever happens next (an
		// ack that does not commit, the term ending), it goes as a
		// repeat from now on.
		s.tries[e.Seq] = &safTry{}
	}
	switch {
	case ctx.Err() != nil:
		return safStopped
	case errors.Is(err, acquirer.ErrUnavailable):
		return safUnavailable
	case err != nil:
		s.log.Warn("saf entry unanswered", "seq", e.Seq, keyID, e.TxnID, keyErr, err)
		return safFailed
	case !upstream.Acknowledges(resp.ResponseCode):
		s.log.Warn("saf entry refused", "seq", e.Seq, keyID, e.TxnID, "rc", resp.ResponseCode)
		return safFailed
	case resp.ResponseCode == upstream.RCNoOriginal && reverses(e, t) && time.Since(time.Unix(0, e.CreatedAt)) < s.late:
		s.log.Info("saf reversal: original unknown to the acquirer yet; retrying until it can no longer arrive",
			"seq", e.Seq, keyID, e.TxnID)
		return safNotYet
	}
	return s.ack(ctx, e, wire.IsRepeat(m.MTI))
}

// reverses reports an entry that reverses something at the acquirer.
func reverses(e store.SAFEntry, t *store.Txn) bool {
	return e.Kind == store.SAFReversal || e.Kind == store.SAFCancel || (e.Kind == store.SAFForward && t.Type == store.TypeReversal)
}

// lateWindow is how long after a request's attempt that request may still
// reach the acquirer: the attempt's frame can sit in a connection or in
// the host's own queue while a reversal of it, sent later on another
// connection, overtakes it. A "no such original" (25) to a reversal within
// that window may be the host not having it yet, not the host never
// getting it: the reversal stays owed and is sent again, or the late
// original would stand (and, after a stand-in, the advice as well).
func (n *Node) lateWindow() time.Duration { return n.requestTimeout() }

func (s *safSender) ack(ctx context.Context, e store.SAFEntry, repeat bool) safResult {
	res, err := s.commit(ctx, store.SAFAckCmd(store.SAFAck{Acquirer: e.Acquirer, Seq: e.Seq, At: time.Now().UnixNano(), Repeat: repeat}))
	if err != nil {
		// Not committed: the entry stays and is sent again (as a repeat,
		// which the acquirer recognises). Only a committed ack removes it.
		s.log.Warn("saf ack not committed", "seq", e.Seq, keyErr, err)
		return safStopped
	}
	if r, ok := res.(store.Result); !ok || r.Err != nil {
		s.n.stateMachineError("saf ack", e.TxnID, resultErr(res))
		return safFailed
	}
	s.n.metrics.safAcked.WithLabelValues(s.name, e.Kind.String()).Inc()
	return safAcked
}

// safMessage builds what entry e sends (as a repeat, xx21/xx01, when it
// may have reached the acquirer before). Each kind names what it is about in
// DE90 as the acquirer saw it:
//
//	reversal, cancel  0420 under the entry's own STAN, DE90 the transaction
//	advice            0220 under the transaction's own STAN and DE7, DE90
//	                  the transaction, DE38 the stand-in's code, DE2 the card
//	forward           the transaction's own message under its own identity:
//	                  a reversal names its original, a completion its
//	                  pre-auth (with the card), an 0120 carries its card and
//	                  approval code
func (n *Node) safMessage(e store.SAFEntry, t *store.Txn, repeat bool) (*wire.Message, error) {
	m := upstream.Message(t, "", e.STAN, e.AcqTime)
	m.OriginalData = upstream.OriginalData(t)
	switch e.Kind {
	case store.SAFReversal, store.SAFCancel:
		m.MTI = "0420"
	case store.SAFAdvice:
		pan, err := n.vault.Open(t.PANEnc)
		if err != nil {
			return nil, fmt.Errorf("card of %s: %w", t.ID, err)
		}
		m.MTI, m.PAN, m.AuthCode, m.ResponseCode = "0220", pan, t.AuthCode, wire.RCApproved
		m.Private.Set(wire.TagStandIn, "1")
	case store.SAFForward:
		if err := n.forwardMessage(m, t); err != nil {
			return nil, err
		}
		// A reversal or completion was tried once on the request's path.
		repeat = repeat || t.MTI != "0120"
	default:
		return nil, fmt.Errorf("saf kind %v", e.Kind)
	}
	if repeat {
		m.MTI = wire.RepeatMTI(m.MTI)
	}
	return m, nil
}

// forwardMessage turns m into t's own message.
func (n *Node) forwardMessage(m *wire.Message, t *store.Txn) error {
	m.MTI, m.OriginalData = t.MTI, ""
	if t.OriginalID != "" {
		orig, ok, err := n.store.Get(t.OriginalID)
		if err != nil || !ok {
			return fmt.Errorf("original %s of %s: found %v: %w", t.OriginalID, t.ID, ok, err)
		}
		m.OriginalData = upstream.OriginalDataOf(orig)
	}
	if t.Type == store.TypeReversal {
		return nil
	}
	pan, err := n.vault.Open(t.PANEnc)
	if err != nil {
		return fmt.Errorf("card of %s: %w", t.ID, err)
	}
	m.PAN = pan
	if t.MTI == "0120" {
		m.AuthCode = t.AuthCode
	}
	return nil
}
