// Package server is the register server: the listeners cash registers
// connect to (gnet for plain TCP; for TLS, which gnet lacks, a goroutine
// per connection) and what every listener shares: framing aside, a
// request is decoded, validated and handed to the Handler off the
// listener's loop with who sent it (package peer) in its context, and its
// answer written back; a malformed message gets a format-error answer (or
// its connection closed), and a handler that panics costs only its own
// connection.
package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/wire"
)

// Handler answers a decoded, validated register request: the pipeline. A
// nil answer means nothing final may be said; the register repeats.
type Handler interface {
	Handle(ctx context.Context, req *wire.Message) *wire.Message
}

// Refuser answers a request the server refuses before the Handler sees it
// (it could not be decoded or validated) with rc: the pipeline, which adds
// the node's hints.
type Refuser interface {
	Refuse(req *wire.Message, rc string) *wire.Message
}

// Config is what a Server is built from.
type Config struct {
	Addr  string // where registers connect
	Codec *wire.Codec
	// MaxConns caps register connections; more are closed at accept.
	MaxConns int
	// IdleTimeout closes connections silent for this long.
	IdleTimeout time.Duration
	// RequestTimeout bounds one request.
	RequestTimeout time.Duration

	// Hostile-input limits; zero is the default, a negative value no
	// limit. MaxConnsPerIP caps the connections from one source address
	// (more are closed at accept); MaxInflight the requests in flight on
	// one connection (a frame past it closes the connection);
	// WriteBufferCap the bytes of answers queued for a connection that
	// does not read them (past it, the connection is closed); AcceptRate
	// and AcceptBurst the connections accepted a second (token bucket, per
	// listener; more are closed at accept).
	MaxConnsPerIP  int
	MaxInflight    int
	WriteBufferCap int
	AcceptRate     int
	AcceptBurst    int
	// SendBuffer, if set, is the kernel send buffer of the gnet listener's
	// connections (SO_SNDBUF); 0 leaves the kernel's, which autotunes up
	// to megabytes that a register that never reads fills before any
	// answer waits in gnet's own buffer (WriteBufferCap).
	SendBuffer int

	// TLS, if set, makes the listener speak TLS only (TLSFiles.Load builds
	// it); nil: plain TCP (gnet).
	TLS *tls.Config
	// HandshakeTimeout bounds a TLS connection's handshake and its first
	// whole frame together (default 10 s): a connection that does not get
	// that far is closed and counted.
	HandshakeTimeout time.Duration
	// FrameTimeout bounds a frame from its first byte to its last (default
	// 10 s; over gnet checked each second): a half-sent frame is closed and
	// counted.
	FrameTimeout time.Duration
	// Nodes are the cluster's node ids: a verified client certificate
	// whose CommonName is one of them is that node (a standby relaying),
	// not a register of a store.
	Nodes []string
	// NodeHosts are the cluster's nodes' hosts (IP addresses or names,
	// resolved at Start): a connection from one may be a standby's relay,
	// which carries many registers' requests at once, so neither the
	// in-flight cap nor the per address cap applies to it. Over TLS a
	// node's certificate exempts it too.
	NodeHosts []string

	Handler Handler
	Refuser Refuser
	// Fail is told when a listener stops on its own.
	Fail func(error)

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server runs the listeners.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	conns   atomic.Int64 // open register connections, every listener's
	gate    *gate
	gnet    *gnetListener
	tls     *tlsListener
}

// DefaultDeadline is the default HandshakeTimeout and FrameTimeout.
const DefaultDeadline = 10 * time.Second

// Start registers the server's metrics and binds its listeners; it
// returns once they accept connections.
func Start(cfg Config) (*Server, error) {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultDeadline
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = DefaultDeadline
	}
	cfg.limits()
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.metrics = newMetrics(cfg.Registerer, s)
	s.gate = newGate(s)
	var err error
	if cfg.TLS != nil {
		s.tls, err = startTLS(s)
	} else {
		s.gnet, err = startGNet(s)
	}
	if err != nil {
		return nil, fmt.Errorf("register listener %s: %w", cfg.Addr, err)
	}
	return s, nil
}

// Stop closes the listeners and their connections. Requests already handed
// to the Handler run on; their answers find no connection.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if s.tls != nil {
		err = s.tls.stop(ctx)
	} else {
		err = s.gnet.stop(ctx)
	}
	if err != nil {
		return fmt.Errorf("register listener: stop: %w", err)
	}
	return nil
}

// Connections counts the open register connections.
func (s *Server) Connections() int64 { return s.conns.Load() }

// Addr is the address the listener is bound to.
func (s *Server) Addr() string {
	if s.tls != nil {
		return s.tls.ln.Addr().String()
	}
	return s.cfg.Addr
}
