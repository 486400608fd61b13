package server

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/node/internal/logkey"
)

// Defaults of the hostile-input limits (Config).
const (
	// DefaultMaxConnsPerIP is generous: a store's registers may all sit
	// behind one NAT address.
	DefaultMaxConnsPerIP = 64
	// DefaultMaxInflight: a register has one request in flight, two
	// while it repeats one.
	DefaultMaxInflight = 32
	// DefaultWriteBufferCap bounds the answers queued for a connection
	// that does not read them.
	DefaultWriteBufferCap = 256 << 10
	// DefaultAcceptRate and DefaultAcceptBurst let a whole fleet (2,000
	// registers and more) reconnect at once after a failover.
	DefaultAcceptRate  = 2000
	DefaultAcceptBurst = 4000
)

// Refusal reasons of tillgate_register_connections_refused_total, and
// reasons of tillgate_register_connections_limit_closed_total.
const (
	refusedMaxConns = "max_conns"
	refusedPerIP    = "per_ip"
	refusedRate     = "rate"

	closedInflight   = "in_flight"
	closedSlowReader = "slow_reader"
)

var (
	refusalReasons     = []string{refusedMaxConns, refusedPerIP, refusedRate}
	limitCloseReasons  = []string{closedInflight, closedSlowReader}
	refusalLogInterval = time.Second
)

// limits fills in the defaults: zero means the default, a negative value
// no limit.
func (c *Config) limits() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxConnsPerIP, DefaultMaxConnsPerIP)
	def(&c.MaxInflight, DefaultMaxInflight)
	def(&c.WriteBufferCap, DefaultWriteBufferCap)
	def(&c.AcceptRate, DefaultAcceptRate)
	if c.AcceptBurst <= 0 {
		c.AcceptBurst = max(DefaultAcceptBurst, c.AcceptRate)
	}
}

// gate admits connections at accept, for every listener: MaxConns, the
// per source address cap and the accept rate (a token bucket). A refusal
// is counted by reason and logged at most once a second per address, so
// a flood of refusals does not become a flood of log lines.
type gate struct {
	s     *Server
	nodes map[string]bool  // NodeHosts' IP addresses
	now   func() time.Time // the token bucket's clock: tests stop it

	mu     sync.Mutex
	perIP  map[string]int
	tokens float64
	filled time.Time
	logged map[string]time.Time // address -> last refusal logged
}

func newGate(s *Server) *gate {
	g := &gate{s: s, nodes: map[string]bool{}, now: time.Now, perIP: map[string]int{}, tokens: float64(s.cfg.AcceptBurst), logged: map[string]time.Time{}}
	g.filled = g.now()
	for _, h := range s.cfg.NodeHosts {
		if ip := net.ParseIP(h); ip != nil {
			g.nodes[ip.String()] = true
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ips, err := net.DefaultResolver.LookupIP(ctx, "ip", h)
		cancel()
		if err != nil {
			// Its relays are then capped as registers are; they reconnect.
			s.log.Warn("register listener: cannot resolve a node's host: its relays get the register limits", "host", h, logkey.Err, err)
		}
		for _, ip := range ips {
			g.nodes[ip.String()] = true
		}
	}
	return g
}

// admit decides on a connection from addr; ok: it is served, and its ip
// is given back to release when it closes; node: it comes from one of the
// cluster's nodes.
func (g *gate) admit(addr net.Addr) (ip string, node, ok bool) {
	ip = hostOf(addr)
	node = g.nodes[ip]
	cfg := &g.s.cfg
	reason := g.check(ip, node, cfg)
	if reason == "" {
		return ip, node, true
	}
	g.s.metrics.refusedConns.WithLabelValues(reason).Inc()
	if g.shouldLog(ip) {
		g.s.log.Warn("register connection refused at accept", logkey.Remote, ip, "reason", reason)
	}
	return "", false, false
}

func (g *gate) check(ip string, node bool, cfg *Config) string {
	if int(g.s.conns.Load()) >= cfg.MaxConns {
		return refusedMaxConns
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if cfg.MaxConnsPerIP > 0 && !node && g.perIP[ip] >= cfg.MaxConnsPerIP {
		return refusedPerIP
	}
	if cfg.AcceptRate > 0 {
		now := g.now()
		g.tokens = min(float64(cfg.AcceptBurst), g.tokens+now.Sub(g.filled).Seconds()*float64(cfg.AcceptRate))
		g.filled = now
		if g.tokens < 1 {
			return refusedRate
		}
		g.tokens--
	}
	g.perIP[ip]++
	return ""
}

// release forgets a closed connection admitted for ip.
func (g *gate) release(ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perIP[ip] <= 1 {
		delete(g.perIP, ip)
		return
	}
	g.perIP[ip]--
}

// shouldLog reports whether a refusal of ip may be logged now; it keeps
// the table small by forgetting addresses not refused within the interval.
func (g *gate) shouldLog(ip string) bool {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.logged[ip]; ok && now.Sub(last) < refusalLogInterval {
		return false
	}
	if len(g.logged) >= 4096 {
		for k, t := range g.logged {
			if now.Sub(t) >= refusalLogInterval {
				delete(g.logged, k)
			}
		}
	}
	g.logged[ip] = now
	return true
}

func hostOf(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// inflight counts a connection's requests handed to serve and not yet
// answered. A node's relay is not capped: it carries many registers.
type inflight struct {
	n        atomic.Int32
	uncapped atomic.Bool
}

// dispatch serves frame on its own goroutine unless c already has
// MaxInflight requests in flight: then it counts and logs, and returns
// false, and the listener closes the connection. Closing rather than
// answering: a register has one request in flight (two while it repeats
// one), so a connection past the cap is broken or hostile, and answering
// it would mean decoding a flood; an answer such as NP would also have to
// be provably safe for a request this node never looked at. A register
// whose connection is closed repeats its open request on a new one, as
// after any lost connection (node/DESIGN.md, the answer rules).
func (s *Server) dispatch(c conn, in *inflight, frame []byte) bool {
	if max := s.cfg.MaxInflight; int(in.n.Add(1)) > max && max > 0 && !in.uncapped.Load() {
		in.n.Add(-1)
		s.limitClosed(c, closedInflight)
		return false
	}
	go func() {
		defer in.n.Add(-1)
		s.serve(c, frame)
	}()
	return true
}

// limitClosed counts and logs a connection closed for a limit (the caller
// closes it).
func (s *Server) limitClosed(c conn, reason string) {
	s.metrics.limitClosed.WithLabelValues(reason).Inc()
	s.log.Warn("register connection over a limit: closed", logkey.Remote, c.remote(), "reason", reason,
		"max_inflight", s.cfg.MaxInflight, "write_buffer_cap", s.cfg.WriteBufferCap)
}
