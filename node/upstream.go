package node

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/tillgate/tillgate/acquirer"
)

// AcquirerConfig is one acquirer host of Config.Acquirers.
type AcquirerConfig struct {
	acquirer.Config // Name, Addr, Conns, Timeout, ...
	// MaxInFlight caps the requests waiting on this acquirer at once; a
	// request over it is stood in or declined 91 without being sent. 0: no
	// cap.
	MaxInFlight int
	// BINs are the card ranges routed to this acquirer; cards no range of
	// any acquirer matches go to Config.DefaultAcquirer.
	BINs []BINRange
}

// BINRange is a range of card prefixes of equal length: {"4", "4"} is every
// card starting with 4, {"510000", "559999"} a six-digit range.
type BINRange struct{ Low, High string }

// acquirerList is the acquirers the node uses: Config.Acquirers, or the
// single Config.Acquirer (the older form) as the default and only one.
func (c *Config) acquirerList() ([]AcquirerConfig, string) {
	if len(c.Acquirers) == 0 {
		a := AcquirerConfig{Config: c.Acquirer}
		if a.Name == "" {
			a.Name = acquirer.DefaultConfig().Name
		}
		return []AcquirerConfig{a}, a.Name
	}
	def := c.DefaultAcquirer
	if def == "" {
		def = c.Acquirers[0].Name
	}
	return c.Acquirers, def
}

// validateAcquirers checks names, addresses, the default and the routes.
func (c *Config) validateAcquirers() error {
	list, def := c.acquirerList()
	var errs []error
	seen := map[string]bool{}
	for i, a := range list {
		switch {
		case a.Name == "" || len(a.Name) > 64 || strings.ContainsRune(a.Name, '|'):
			errs = append(errs, fmt.Errorf("acquirers[%d]: name %q: want 1-64 characters without '|'", i, a.Name))
		case seen[a.Name]:
			errs = append(errs, fmt.Errorf("acquirers[%d]: name %q used twice", i, a.Name))
		}
		seen[a.Name] = true
		if a.Addr == "" {
			errs = append(errs, fmt.Errorf("acquirer %q: addr is empty", a.Name))
		}
		if a.MaxInFlight < 0 {
			errs = append(errs, fmt.Errorf("acquirer %q: max_in_flight %d is negative", a.Name, a.MaxInFlight))
		}
	}
	if !seen[def] {
		errs = append(errs, fmt.Errorf("default_acquirer %q is not one of the acquirers", def))
	}
	if _, err := newRouter(list, def); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func newRouter(list []AcquirerConfig, def string) (*acquirer.Router, error) {
	var routes []acquirer.Route
	for _, a := range list {
		for _, r := range a.BINs {
			routes = append(routes, acquirer.Route{Low: r.Low, High: r.High, Acquirer: a.Name})
		}
	}
	return acquirer.NewRouter(routes, def)
}

// upstream is one acquirer as the node uses it: its link, its in-flight
// count and its SAF sender's wake-up. (The STANs and RRNs it sees come from
// the replicated state: store.applier.identify.)
type upstream struct {
	name     string
	cfg      AcquirerConfig
	link     *acquirer.Link
	inflight atomic.Int64
	poke     chan struct{}
}

// acquire takes an in-flight slot; false when the acquirer is at its cap.
func (u *upstream) acquire() bool {
	if n := u.inflight.Add(1); u.cfg.MaxInFlight > 0 && n > int64(u.cfg.MaxInFlight) {
		u.inflight.Add(-1)
		return false
	}
	return true
}

func (u *upstream) release() { u.inflight.Add(-1) }

// openUpstreams opens a link per acquirer. n.link stays the default's, for
// the code that knows one acquirer only (metrics, status page).
func (n *Node) openUpstreams() error {
	list, def := n.cfg.acquirerList()
	router, err := newRouter(list, def)
	if err != nil {
		return err
	}
	n.router, n.upstreams = router, map[string]*upstream{}
	for _, a := range list {
		lc := a.Config
		lc.Dialect = n.codec.Dialect()
		lc.Logger = n.log
		link, err := acquirer.Open(lc)
		if err != nil {
			return err
		}
		n.upstreams[a.Name] = &upstream{name: a.Name, cfg: a, link: link, poke: make(chan struct{}, 1)}
		n.upNames = append(n.upNames, a.Name)
	}
	sort.Strings(n.upNames)
	n.link = n.upstreams[def].link
	return nil
}

// upstreamOf returns the named acquirer, or the default one for a name this
// node does not know (an INTENT of an older config): never nil.
func (n *Node) upstreamOf(name string) *upstream {
	if u := n.upstreams[name]; u != nil {
		return u
	}
	return n.upstreams[n.router.Default()]
}

// route picks the acquirer of a card.
func (n *Node) route(pan string) *upstream { return n.upstreamOf(n.router.Lookup(pan)) }

func (n *Node) closeUpstreams() error {
	var errs []error
	for _, name := range n.upNames {
		errs = append(errs, n.upstreams[name].link.Close())
	}
	return errors.Join(errs...)
}
