// Package pipeline is the authorization path of a node: Handle answers one
// decoded, validated register request. Where the request enters, it
// admits it through the terminal registry (admit.go). On the active it
// checks for a duplicate, commits the INTENT, asks the acquirer (or stands in), commits
// the OUTCOME with whatever is owed to the acquirer, and answers; on a
// standby it relays the request to the active. It owns the in-flight calls
// (one per identity), the resolution of committed INTENTs that the takeover
// and the sweep also use (ResolveOpen), and the stand-in reservations. What
// it needs of the rest of the node it reaches through the interfaces below;
// what it did, it reports to its Observers. DESIGN.md says why it works as
// it does.
package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/node/inflight"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/node/standin"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Log is the replicated log: cluster.Cluster.
type Log interface {
	// Apply commits cmd and returns what the state machine made of it.
	Apply(ctx context.Context, cmd []byte) (any, error)
	// Barrier returns once this node, still the leader, has applied
	// everything committed before it.
	Barrier(ctx context.Context) error
}

// State is what the pipeline reads of the replicated state: store.Store.
type State interface {
	Get(id string) (*store.Txn, bool, error)
	StandInCard(day string, panHash []byte) (store.Sum, error)
	StandInOpen(acquirer string) (store.Sum, error)
	// Terminal is the registry's record of a terminal (ok false: not
	// registered).
	Terminal(id string) (t store.Terminal, ok bool, err error)
}

// Acquirers are the acquirer hosts: upstream.Set.
type Acquirers interface {
	// Route names the acquirer of a card.
	Route(pan string) string
	// Resolve is the configured acquirer a recorded name stands for (the
	// default for a name this node does not know).
	Resolve(name string) string
	// Send asks the named acquirer within its in-flight cap
	// (upstream.ErrAtLimit, not sent, over it).
	Send(ctx context.Context, name string, m *wire.Message) (*wire.Message, error)
}

// Vault seals and opens card numbers, each for its transaction's
// identity: store.Vault.
type Vault interface {
	Seal(pan, id string) (enc []byte, bin, last4 string, hash []byte, err error)
	Open(enc []byte, id string) (string, error)
}

// Leadership is this node's view of the leadership: leadership.Tracker.
type Leadership interface {
	Current() *leadership.View
	// WaitServing waits out a takeover on this node; nil when the node
	// does not lead (any more) or ctx ends.
	WaitServing(ctx context.Context) *leadership.View
}

// Relay is a standby's link to the active's register listener: relay.Relay.
type Relay interface {
	// Link is the link to the current active, nil when there is nowhere to
	// relay (no active known, or it is this node).
	Link() *acquirer.Link
}

// Forwarder delivers what the store-and-forward queue owes: saf.Forwarder.
type Forwarder interface {
	// Wake tells the acquirer's sender that something was queued for it.
	Wake(acquirer string)
}

// Health is the node's own state.
type Health interface {
	// Halted says why this node must not act any more (its state machine
	// or its Raft log failed), or nil.
	Halted() error
	// Fail stops the node.
	Fail(err error)
}

// Config is what a Pipeline is built from.
type Config struct {
	NodeID string // answers name it (DE48 ND)
	// StandIn is the policy for approving while an acquirer is out.
	StandIn standin.Policy
	// RelayTimeout bounds a relay to the active: longer than the active
	// gives itself, so that its own "no answer" comes first.
	RelayTimeout time.Duration
	// Closing is closed when the node stops.
	Closing <-chan struct{}

	Raft      Log
	State     State
	Acquirers Acquirers
	Vault     Vault
	Views     Leadership
	Relay     Relay
	SAF       Forwarder
	Health    Health

	// Observers learn every answered request, after the pipeline's own
	// metrics.
	Observers  []Observer
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Pipeline answers register requests. It is safe for concurrent use.
type Pipeline struct {
	cfg       Config
	log       *slog.Logger
	metrics   *metrics
	observers []Observer
	calls     *inflight.Table
	standIns  *standin.Reservations // stand-ins decided, not yet committed
}

// New builds a pipeline and registers its metrics.
func New(cfg Config) *Pipeline {
	p := &Pipeline{cfg: cfg, log: cfg.Logger, calls: inflight.New(), standIns: standin.NewReservations()}
	p.metrics = newMetrics(cfg.Registerer)
	p.observers = append([]Observer{p.metrics}, cfg.Observers...)
	return p
}

// Calls is the table of identities in progress on this node, which the
// takeover and the sweep claim before they resolve an open INTENT.
func (p *Pipeline) Calls() *inflight.Table { return p.calls }

// Handle answers one decoded, validated request. A nil answer means nothing
// final may be said (the outcome is unknown): the register repeats.
func (p *Pipeline) Handle(ctx context.Context, req *wire.Message) *wire.Message {
	switch k := req.Kind(); {
	case k == wire.KindNetwork:
		return p.network(req)
	case k.Financial():
		return p.transact(ctx, req, false)
	case k == wire.KindReconcile || k == wire.KindBatchUpload:
		return p.batchRequest(ctx, req)
	default:
		return p.reply(req, p.cfg.Views.Current(), wire.RCFormatError)
	}
}

// Refuse answers a request refused before Handle (it could not be decoded
// or validated) with rc and this node's hints.
func (p *Pipeline) Refuse(req *wire.Message, rc string) *wire.Message {
	return p.reply(req, p.cfg.Views.Current(), rc)
}

func (p *Pipeline) network(req *wire.Message) *wire.Message {
	resp := p.reply(req, p.cfg.Views.Current(), wire.RCApproved)
	resp.NetworkCode = req.NetworkCode
	return resp
}
