package node

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/wire"
)

// relayConns is the size of a standby's pool to the active. Smart registers
// follow the AN hint straight to the active, so a relay carries only the
// registers that know a standby's address alone.
const relayConns = 2

// relayMargin is how much longer a standby waits for the active than the
// active gives itself (requestTimeout), so that the active's own "no
// answer" deadline passes first and a late but final answer is not dropped
// here.
const relayMargin = 2 * time.Second

// Results of a relay, the label values of tillgate_relayed_requests_total.
const (
	relayAnswered = "answered"  // the active's answer went back to the register
	relayNoActive = "no_active" // no active known (or it is this node): answered NP
	relayNotSent  = "not_sent"  // never written to the active: answered NP
	relayInFlight = "in_flight" // a copy of the same identity is being relayed: no answer
	relayUnknown  = "unknown"   // written, no answer: no answer, the register repeats
)

// relay is a standby's link to the active's register listener. It is an
// acquirer.Link because that is exactly what is needed: a pooled ISO 8583
// client that matches answers on DE41+DE11+DE7 and tells "never sent" apart
// from "outcome unknown".
type relay struct {
	n *Node

	mu     sync.Mutex
	target string // register address the link points at; "" when none
	link   *acquirer.Link
	closed bool

	closing sync.WaitGroup // links being closed after a re-point
}

func newRelay(n *Node) *relay { return &relay{n: n} }

// run re-points the link whenever the view changes, so that the first
// request after an election does not wait for a dial. A view's servingCh is
// closed exactly when the view is replaced (setView, markServing), which
// makes it a change signal as well.
func (r *relay) run(ctx context.Context) {
	defer r.n.wg.Done()
	for {
		v := r.n.views.Current()
		r.sync()
		select {
		case <-v.Replaced():
		case <-ctx.Done():
			return
		}
	}
}

// relayTarget is where a node with view v relays: nowhere when it leads (it
// authorizes by itself), when no active is known, or when the view names
// this node (a stepping-down view must never make a node relay to itself).
func (n *Node) relayTarget(v *leadership.View) string {
	if v.Leader || v.ActiveAddr == "" || v.LeaderID == n.cfg.ID || v.ActiveAddr == n.cfg.RegisterAddr {
		return ""
	}
	return v.ActiveAddr
}

// sync points the link at the active of the current view and returns it,
// or nil when there is nowhere to relay. It reads the view itself, under
// the lock, so that a request holding an older view can never point the
// link back at an old active after the watcher moved it on.
func (r *relay) sync() *acquirer.Link {
	r.mu.Lock()
	defer r.mu.Unlock()
	target := ""
	if !r.closed {
		target = r.n.relayTarget(r.n.views.Current())
	}
	if target == r.target {
		return r.link
	}
	r.drop()
	if target == "" {
		return nil
	}
	l, err := acquirer.Open(r.config(target))
	if err != nil {
		r.n.log.Error("relay: cannot open a link to the active", "active", target, keyErr, err)
		return nil
	}
	r.link, r.target = l, target
	r.n.log.Info("relay: pointing at the active", "active", target)
	return l
}

// drop closes the current link in the background: Close waits for its
// connections, and a view change must not wait on a dead active. Relays
// still waiting on it end with ErrConnLost (no answer) or ErrUnavailable
// (NP), both true.
func (r *relay) drop() {
	if r.link == nil {
		return
	}
	old := r.link
	r.link, r.target = nil, ""
	r.closing.Add(1)
	go func() {
		defer r.closing.Done()
		_ = old.Close()
	}()
}

func (r *relay) config(target string) acquirer.Config {
	cfg := acquirer.DefaultConfig()
	cfg.Name = "relay"
	cfg.Addr = target
	cfg.Conns = relayConns
	cfg.Timeout = r.n.requestTimeout() + relayMargin
	cfg.DialTimeout = time.Second
	cfg.Dialect = r.n.codec.Dialect()
	cfg.Logger = r.n.log
	return cfg
}

// close stops relaying for good and waits for every link to close.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	r.drop()
	r.mu.Unlock()
	r.closing.Wait()
}

// relayToActive forwards req, unchanged and with the register's identity, to
// the active and returns the active's answer, which carries the active's own
// hints. A standby never authorizes (nothing here touches the store or Raft):
// it answers NP only when the active provably never saw the request, and
// nothing when it may have, so that the register repeats.
//
// proposed says that this node may have proposed the request's INTENT
// itself while it led (carryOn): then even a relay that never left says
// nothing, since NP would tell the register that nothing happened.
func (n *Node) relayToActive(ctx context.Context, req *wire.Message, proposed bool) *wire.Message {
	link := n.relay.sync()
	if link == nil {
		n.metrics.relayed.WithLabelValues(relayNoActive).Inc()
		return n.notProcessedUnless(req, proposed)
	}
	// The register's deadline is far beyond the active's: give the active
	// its whole time even though this request's own bound is the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.requestTimeout()+relayMargin)
	defer cancel()
	start := time.Now()
	resp, err := link.Send(ctx, req)
	n.metrics.relayDuration.Observe(time.Since(start).Seconds())
	result := relayResult(err)
	n.metrics.relayed.WithLabelValues(result).Inc()
	switch result {
	case relayAnswered:
		return resp
	case relayNotSent:
		return n.notProcessedUnless(req, proposed)
	case relayInFlight:
		// The register repeated while its first copy is still with the
		// active: that one is being processed, so NP would be a lie that
		// could make the register skip its reversal. The first copy's
		// answer reaches the register, or it repeats. (Two standbys whose
		// views point at each other for a moment end up here as well,
		// and the register's repeat finds the views settled.)
		return nil
	default:
		n.logRequest(slog.LevelWarn, "relay: no answer from the active, outcome unknown", req, keyErr, err)
		n.metrics.unanswered.Inc()
		return nil
	}
}

// notProcessedUnless answers NP, or nothing when this node may have
// proposed req.
func (n *Node) notProcessedUnless(req *wire.Message, proposed bool) *wire.Message {
	if proposed {
		n.metrics.unanswered.Inc()
		return nil
	}
	return n.notProcessed(req, n.views.Current())
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
