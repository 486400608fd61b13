// Package relay is a standby's link to the active's register listener. A
// standby relays what registers send it (package pipeline decides what to
// answer); the link follows the leadership view, so that the first request
// after an election does not wait for a dial.
package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/wire"
)

// conns is the size of a standby's pool to the active. Smart registers
// follow the AN hint straight to the active, so a relay carries only the
// registers that know a standby's address alone.
const conns = 2

// tlsEcho is how long a relay connection over TLS stays silent before an
// echo: well within the register listener's handshake deadline.
const tlsEcho = 4 * time.Second

// Margin is how much longer a standby waits for the active than the active
// gives itself (its request timeout), so that the active's own "no answer"
// deadline passes first and a late but final answer is not dropped here.
const Margin = 2 * time.Second

// Views is this node's view of the leadership: leadership.Tracker.
type Views interface {
	Current() *leadership.View
}

// Config is what a Relay is built from.
type Config struct {
	NodeID       string
	RegisterAddr string // this node's own register listener: never relayed to
	// Timeout bounds one relayed request: the active's request timeout
	// plus Margin.
	Timeout time.Duration
	Dialect wire.Dialect
	// TLS, if set, is how to dial the active's register port when the
	// nodes' register listeners speak TLS.
	TLS    *tlsconf.Client
	Views  Views
	Logger *slog.Logger
}

// Relay is the link. It is an acquirer.Link because that is exactly what
// is needed: a pooled ISO 8583 client that matches answers on DE41+DE11+DE7
// and tells "never sent" apart from "outcome unknown".
type Relay struct {
	cfg Config

	mu     sync.Mutex
	target string // register address the link points at; "" when none
	link   *acquirer.Link
	closed bool

	closing sync.WaitGroup // links being closed after a re-point
}

// New returns a relay pointing nowhere yet.
func New(cfg Config) *Relay { return &Relay{cfg: cfg} }

// Run re-points the link whenever the view changes, until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	for {
		v := r.cfg.Views.Current()
		r.Link()
		select {
		case <-v.Replaced():
		case <-ctx.Done():
			return
		}
	}
}

// target is where a node with view v relays: nowhere when it leads (it
// authorizes by itself), when no active is known, or when the view names
// this node (a stepping-down view must never make a node relay to itself).
func (r *Relay) targetOf(v *leadership.View) string {
	if v.Leader || v.ActiveAddr == "" || v.LeaderID == r.cfg.NodeID || v.ActiveAddr == r.cfg.RegisterAddr {
		return ""
	}
	return v.ActiveAddr
}

// Link points the link at the active of the current view and returns it,
// or nil when there is nowhere to relay. It reads the view itself, under
// the lock, so that a request holding an older view can never point the
// link back at an old active after Run moved it on.
func (r *Relay) Link() *acquirer.Link {
	r.mu.Lock()
	defer r.mu.Unlock()
	target := ""
	if !r.closed {
		target = r.targetOf(r.cfg.Views.Current())
	}
	if target == r.target {
		return r.link
	}
	r.drop()
	if target == "" {
		return nil
	}
	l, err := acquirer.Open(r.linkConfig(target))
	if err != nil {
		r.cfg.Logger.Error("relay: cannot open a link to the active", "active", target, logkey.Err, err)
		return nil
	}
	r.link, r.target = l, target
	r.cfg.Logger.Info("relay: pointing at the active", "active", target)
	return l
}

// drop closes the current link in the background: Close waits for its
// connections, and a view change must not wait on a dead active. Relays
// still waiting on it end with ErrConnLost (no answer) or ErrUnavailable
// (NP), both true. r.mu must be held.
func (r *Relay) drop() {
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

func (r *Relay) linkConfig(target string) acquirer.Config {
	cfg := acquirer.DefaultConfig()
	cfg.Name = "relay"
	cfg.Addr = target
	cfg.Conns = conns
	cfg.Timeout = r.cfg.Timeout
	cfg.DialTimeout = time.Second
	cfg.Dialect = r.cfg.Dialect
	cfg.TLS = r.cfg.TLS
	if cfg.TLS != nil {
		// The link dials ahead of the first request; the active's TLS
		// listener closes a connection whose first frame has not come
		// within its handshake deadline (10 s): an echo goes out sooner.
		cfg.EchoInterval = tlsEcho
	}
	cfg.Logger = r.cfg.Logger
	return cfg
}

// Close stops relaying for good and waits for every link to close.
func (r *Relay) Close() {
	r.mu.Lock()
	r.closed = true
	r.drop()
	r.mu.Unlock()
	r.closing.Wait()
}

// Connections counts the link's open connections, for the metrics.
func (r *Relay) Connections() int {
	r.mu.Lock()
	l := r.link
	r.mu.Unlock()
	if l == nil {
		return 0
	}
	return l.Stats().Connected
}
