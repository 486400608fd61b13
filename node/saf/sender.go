package saf

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/node/internal/commit"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// try is what the active remembers of one entry's attempts. It is not
// replicated: a new active starts counting afresh (and sends as a repeat).
type try struct {
	attempts int
	next     time.Time
	// notYet: the last answer was "no such original" within the late
	// window; the entry waits without holding up the ones after it.
	notYet bool
}

// sender delivers one acquirer's queue, one entry at a time, in order.
type sender struct {
	f       *Forwarder
	name    string        // the acquirer
	wake    chan struct{} // something was queued
	cfg     Config
	log     *slog.Logger
	started int64 // unix nanos: entries older may have been sent by a predecessor
	tries   map[uint64]*try
	page    int           // entries read at a time
	late    time.Duration // Options.LateWindow: until then a 25 to a reversal is not taken

	// send and commit are the acquirer link's Send and Raft's Apply (tests
	// put fakes in their place).
	send   func(context.Context, *wire.Message) (*wire.Message, error)
	commit func(context.Context, []byte) (any, error)
}

func (s *sender) run(ctx context.Context) {
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

// pageSize is how many entries the sender reads at a time.
const pageSize = 1024

// pass walks the queue in order and returns how long to wait before the
// next pass. An entry in its backoff holds up the ones after it until it
// has failed SkipAfter times; then the sender skips past it. The queue is
// read a page at a time, so entries behind a long stuck stretch are
// reached too.
func (s *sender) pass(ctx context.Context) time.Duration {
	wait := s.cfg.Poll
	if s.f.cfg.Health.Halted() != nil {
		return wait // this node has stopped: nothing it sends could be recorded
	}
	var after uint64
	live := map[uint64]bool{}
	defer s.forget(live)
	for {
		entries, err := s.f.cfg.State.SAFQueue(s.name, after, s.page)
		if err != nil {
			s.log.Error("cannot read the queue", logkey.Err, err)
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
func (s *sender) visit(ctx context.Context, e store.SAFEntry) (time.Duration, bool) {
	tr := s.tries[e.Seq]
	if now := time.Now(); tr != nil && now.Before(tr.next) {
		return tr.next.Sub(now), tr.attempts >= s.cfg.SkipAfter || tr.notYet
	}
	switch s.deliver(ctx, e, tr) {
	case acked:
		delete(s.tries, e.Seq)
		return s.cfg.Poll, true
	case unavailable:
		// The acquirer is down: not the entry's fault, so no attempt is
		// counted; wait for the link.
		return s.cfg.MinBackoff, false
	case failed:
		tr = s.retryLater(e)
		return time.Until(tr.next), tr.attempts >= s.cfg.SkipAfter
	case notYet:
		tr = s.tries[e.Seq] // set by deliver: it was sent
		tr.notYet, tr.next = true, time.Now().Add(s.cfg.MinBackoff)
		return s.cfg.MinBackoff, true
	default: // stopped
		return 0, false
	}
}

// forget drops the attempts of entries no longer queued (acknowledged);
// live is every entry the pass saw (a pass that stopped early saw only
// some: entries it did not reach keep their attempts).
func (s *sender) forget(live map[uint64]bool) {
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

func (s *sender) retryLater(e store.SAFEntry) *try {
	tr := s.tries[e.Seq]
	if tr == nil {
		tr = &try{}
		s.tries[e.Seq] = tr
	}
	tr.attempts++
	tr.notYet = false
	backoff := s.cfg.MinBackoff << min(tr.attempts-1, 20)
	tr.next = time.Now().Add(min(backoff, s.cfg.MaxBackoff))
	if tr.attempts == s.cfg.SkipAfter {
		s.f.metrics.safSkipped.WithLabelValues(s.name).Inc()
		s.log.Error("saf entry still unacknowledged, skipping past it (it stays queued)",
			"seq", e.Seq, "kind", e.Kind.String(), logkey.Txn, e.TxnID, "attempts", tr.attempts)
	}
	return tr
}

type result int

const (
	acked result = iota
	unavailable
	failed
	notYet // a reversal whose original the acquirer may not have yet
	stopped
)

// deliver sends one entry and commits the acknowledgement.
func (s *sender) deliver(ctx context.Context, e store.SAFEntry, tr *try) result {
	t, ok, err := s.f.cfg.State.Get(e.TxnID)
	if err != nil || !ok {
		s.log.Error("saf entry names no transaction", "seq", e.Seq, logkey.Txn, e.TxnID, logkey.Err, err)
		return failed
	}
	repeat := tr != nil || e.CreatedAt < s.started
	m, err := s.f.message(e, t, repeat)
	if err != nil {
		s.log.Error("saf entry cannot be built", "seq", e.Seq, logkey.Txn, e.TxnID, logkey.Err, err)
		return failed
	}
	resp, err := s.send(ctx, m)
	s.f.metrics.safSent.WithLabelValues(s.name, e.Kind.String(), boolLabel(repeat)).Inc()
	if !errors.Is(err, acquirer.ErrUnavailable) && s.tries[e.Seq] == nil {
		// It may have reached the acquirer: whatever happens next (an
		// ack that does not commit, the term ending), it goes as a
		// repeat from now on.
		s.tries[e.Seq] = &try{}
	}
	switch {
	case ctx.Err() != nil:
		return stopped
	case errors.Is(err, acquirer.ErrUnavailable):
		return unavailable
	case err != nil:
		s.log.Warn("saf entry unanswered", "seq", e.Seq, logkey.Txn, e.TxnID, logkey.Err, err)
		return failed
	case !upstream.Acknowledges(resp.ResponseCode):
		s.log.Warn("saf entry refused", "seq", e.Seq, logkey.Txn, e.TxnID, "rc", resp.ResponseCode)
		return failed
	case resp.ResponseCode == upstream.RCNoOriginal && reverses(e, t) && time.Since(time.Unix(0, e.CreatedAt)) < s.late:
		s.log.Info("saf reversal: original unknown to the acquirer yet; retrying until it can no longer arrive",
			"seq", e.Seq, logkey.Txn, e.TxnID)
		return notYet
	}
	return s.ack(ctx, e, wire.IsRepeat(m.MTI))
}

// reverses reports an entry that reverses something at the acquirer.
func reverses(e store.SAFEntry, t *store.Txn) bool {
	return e.Kind == store.SAFReversal || e.Kind == store.SAFCancel || (e.Kind == store.SAFForward && t.Type == store.TypeReversal)
}

func (s *sender) ack(ctx context.Context, e store.SAFEntry, repeat bool) result {
	res, err := s.commit(ctx, store.SAFAckCmd(store.SAFAck{Acquirer: e.Acquirer, Seq: e.Seq, At: time.Now().UnixNano(), Repeat: repeat}))
	if err != nil {
		// Not committed: the entry stays and is sent again (as a repeat,
		// which the acquirer recognises). Only a committed ack removes it.
		s.log.Warn("saf ack not committed", "seq", e.Seq, logkey.Err, err)
		return stopped
	}
	if r, ok := res.(store.Result); !ok || r.Err != nil {
		commit.Refused(s.f.log, s.f.cfg.Health.Fail, "saf ack", e.TxnID, commit.Err(res))
		return failed
	}
	s.f.metrics.safAcked.WithLabelValues(s.name, e.Kind.String()).Inc()
	return acked
}
