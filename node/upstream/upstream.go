// Package upstream is the acquirer hosts as a node uses them: a link per
// acquirer, BIN routing, a cap on the requests in flight per acquirer, and
// the message a transaction is to its acquirer (message.go). The STANs and
// RRNs the acquirers see come from the replicated state
// (store.applier.identify), not from here.
package upstream

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync/atomic"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/node/bins"
	"github.com/tillgate/tillgate/wire"
)

// Config is one acquirer host of the node's config.
type Config struct {
	acquirer.Config // Name, Addr, Conns, Timeout, ...
	// MaxInFlight caps the requests waiting on this acquirer at once; a
	// request over it is stood in or declined 91 without being sent. 0: no
	// cap.
	MaxInFlight int
	// BINs are the card ranges routed to this acquirer; cards no range of
	// any acquirer matches go to the default acquirer.
	BINs []bins.Range
}

// ErrAtLimit: the acquirer has MaxInFlight requests waiting; this one was
// not sent.
var ErrAtLimit = errors.New("upstream: acquirer at its in-flight cap")

// NewRouter routes cards to the acquirers of list by their BINs; def takes
// the rest.
func NewRouter(list []Config, def string) (*acquirer.Router, error) {
	var routes []acquirer.Route
	for _, a := range list {
		for _, r := range a.BINs {
			routes = append(routes, acquirer.Route{Low: r.Low, High: r.High, Acquirer: a.Name})
		}
	}
	return acquirer.NewRouter(routes, def)
}

// Acquirer is one acquirer host: its link and its in-flight count.
type Acquirer struct {
	name     string
	cfg      Config
	link     *acquirer.Link
	inflight atomic.Int64
}

// Name is the acquirer's configured name.
func (a *Acquirer) Name() string { return a.name }

// Link is the acquirer's connection pool.
func (a *Acquirer) Link() *acquirer.Link { return a.link }

// acquire takes an in-flight slot; false when the acquirer is at its cap.
func (a *Acquirer) acquire() bool {
	if n := a.inflight.Add(1); a.cfg.MaxInFlight > 0 && n > int64(a.cfg.MaxInFlight) {
		a.inflight.Add(-1)
		return false
	}
	return true
}

func (a *Acquirer) release() { a.inflight.Add(-1) }

// Set is every configured acquirer.
type Set struct {
	router *acquirer.Router
	byName map[string]*Acquirer
	names  []string // sorted, for a stable order
}

// Open opens a link per acquirer of list, each speaking dialect; def is the
// default acquirer's name.
func Open(list []Config, def string, dialect wire.Dialect, log *slog.Logger) (*Set, error) {
	router, err := NewRouter(list, def)
	if err != nil {
		return nil, err
	}
	s := &Set{router: router, byName: map[string]*Acquirer{}}
	for _, a := range list {
		lc := a.Config
		lc.Dialect = dialect
		lc.Logger = log
		link, err := acquirer.Open(lc)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.byName[a.Name] = &Acquirer{name: a.Name, cfg: a, link: link}
		s.names = append(s.names, a.Name)
	}
	sort.Strings(s.names)
	return s, nil
}

// Get returns the named acquirer, or the default one for a name this node
// does not know (an INTENT of an older config): never nil.
func (s *Set) Get(name string) *Acquirer {
	if a := s.byName[name]; a != nil {
		return a
	}
	return s.byName[s.router.Default()]
}

// Default is the default acquirer.
func (s *Set) Default() *Acquirer { return s.byName[s.router.Default()] }

// Route names the acquirer of a card.
func (s *Set) Route(pan string) string { return s.Get(s.router.Lookup(pan)).name }

// Resolve is the acquirer a recorded name stands for on this node: itself,
// or the default for a name not configured.
func (s *Set) Resolve(name string) string { return s.Get(name).name }

// Names are the configured acquirers, sorted.
func (s *Set) Names() []string { return s.names }

// Configured reports whether name is one of this node's acquirers.
func (s *Set) Configured(name string) bool { return s.byName[name] != nil }

// Link is the named acquirer's connection pool, nil when name is not
// configured.
func (s *Set) Link(name string) *acquirer.Link {
	if a := s.byName[name]; a != nil {
		return a.link
	}
	return nil
}

// Send asks acquirer name (Get's) within its in-flight cap: ErrAtLimit,
// without sending, when it is at it.
func (s *Set) Send(ctx context.Context, name string, m *wire.Message) (*wire.Message, error) {
	a := s.Get(name)
	if !a.acquire() {
		return nil, ErrAtLimit
	}
	defer a.release()
	return a.link.Send(ctx, m)
}

// Close closes every link.
func (s *Set) Close() error {
	var errs []error
	for _, name := range s.names {
		errs = append(errs, s.byName[name].link.Close())
	}
	return errors.Join(errs...)
}
