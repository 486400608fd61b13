// Package saf delivers what the replicated store-and-forward queue owes the
// acquirers (reversals of unknown outcomes, stand-in advices and their
// cancels, forwarded reversals, completions and 0120 advices): a sender
// per acquirer, on the active only, from the end of its takeover until the
// term ends. The queue itself is state (package store): an entry is
// enqueued by the OUTCOME that owes it and removed only by a committed
// acknowledgement, so a new active carries on where the old one stopped.
package saf

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Config tunes the senders.
type Config struct {
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

// DefaultConfig: retry after 1 s, 2 s, ... up to 1 min; skip past an entry
// after 5 attempts.
func DefaultConfig() Config {
	return Config{MinBackoff: time.Second, MaxBackoff: time.Minute, SkipAfter: 5, Poll: time.Second}
}

// Validate reports settings the sender cannot work with.
func (c Config) Validate() error {
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.SkipAfter < 1 || c.Poll <= 0 {
		return fmt.Errorf("saf: min_backoff %v, max_backoff %v, skip_after %d, poll %v: want 0 < min <= max, skip_after >= 1, poll > 0",
			c.MinBackoff, c.MaxBackoff, c.SkipAfter, c.Poll)
	}
	return nil
}

// State is what the senders read of the replicated state: store.Store.
type State interface {
	SAFStats() (map[string]store.SAFStat, error)
	SAFQueue(acquirer string, after uint64, limit int) ([]store.SAFEntry, error)
	Get(id string) (*store.Txn, bool, error)
	StandInOpen(acquirer string) (store.Sum, error)
}

// Log is the replicated log: cluster.Cluster.
type Log interface {
	Apply(ctx context.Context, cmd []byte) (any, error)
}

// Acquirers are the configured acquirer hosts: upstream.Set.
type Acquirers interface {
	Names() []string // sorted
	// Link is the acquirer's connection pool. Entries go uncapped: the
	// in-flight cap is for authorizations.
	Link(name string) *acquirer.Link
}

// Vault opens sealed card numbers: store.Vault.
type Vault interface {
	Open(enc []byte, id string) (string, error)
}

// Health is the node's own state.
type Health interface {
	Halted() error // this node has stopped acting: nothing it sends could be recorded
	Fail(err error)
}

// Options is what a Forwarder is built from.
type Options struct {
	Config Config
	// LateWindow is how long after a request's attempt that request may
	// still reach the acquirer: the attempt's frame can sit in a
	// connection or in the host's own queue while a reversal of it, sent
	// later on another connection, overtakes it. A "no such original" (25)
	// to a reversal within that window may be the host not having it yet,
	// not the host never getting it: the reversal stays owed and is sent
	// again, or the late original would stand (and, after a stand-in, the
	// advice as well). The node's request timeout.
	LateWindow time.Duration

	State     State
	Raft      Log
	Acquirers Acquirers
	Vault     Vault
	Health    Health

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Forwarder runs the senders of every configured acquirer.
type Forwarder struct {
	cfg     Options
	log     *slog.Logger
	metrics *metrics
	wake    map[string]chan struct{} // by acquirer: something was queued
}

// New returns a forwarder and registers its metrics.
func New(o Options) *Forwarder {
	f := &Forwarder{cfg: o, log: o.Logger, wake: map[string]chan struct{}{}}
	for _, name := range o.Acquirers.Names() {
		f.wake[name] = make(chan struct{}, 1)
	}
	f.metrics = newMetrics(o.Registerer, f)
	return f
}

// Run runs a sender per acquirer until ctx (the term) ends. Entries owed to
// an acquirer that is no longer configured cannot be sent: they are
// reported (here, and in the queue metrics and /status) until an operator
// configures that acquirer again.
func (f *Forwarder) Run(ctx context.Context) {
	if stats, err := f.cfg.State.SAFStats(); err == nil {
		for name, st := range stats {
			if f.wake[name] == nil {
				f.log.Error("saf: entries owed to an acquirer that is not configured: not sent until it is configured again",
					"acquirer", name, "depth", st.Depth, "oldest", time.Unix(0, st.Oldest).UTC())
			}
		}
	}
	var wg sync.WaitGroup
	for _, name := range f.cfg.Acquirers.Names() {
		wg.Go(func() {
			f.newSender(name, f.cfg.Acquirers.Link(name).Send, f.cfg.Raft.Apply).run(ctx)
		})
	}
	wg.Wait()
}

// Wake tells the sender of an acquirer that something was queued for it.
func (f *Forwarder) Wake(acquirer string) {
	if wake := f.wake[acquirer]; wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

func (f *Forwarder) newSender(name string, send func(context.Context, *wire.Message) (*wire.Message, error),
	commit func(context.Context, []byte) (any, error)) *sender {
	return &sender{f: f, name: name, wake: f.wake[name], cfg: f.cfg.Config, log: f.log.With("acquirer", name, "component", "saf"),
		started: time.Now().UnixNano(), tries: map[uint64]*try{}, page: pageSize, late: f.cfg.LateWindow, send: send, commit: commit}
}
