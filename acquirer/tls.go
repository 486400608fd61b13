package acquirer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/internal/tlsconf"
)

// tlsConfig reads the files of cfg.TLS (nil without TLS). The server name
// defaults to the host of the address, as tls.Dial does.
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLS == nil {
		return nil, nil
	}
	tc, err := cfg.TLS.Config()
	if err != nil {
		return nil, err
	}
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("addr %q: want host:port: %w", cfg.Addr, err)
		}
		tc.ServerName = host
	}
	return tc, nil
}

// handshakeError is a failed TLS handshake: the reason is its metric
// label, the message says what to fix.
type handshakeError struct {
	reason string
	err    error
}

func (e *handshakeError) Error() string { return e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// handshake runs the client handshake on nc within what is left of the
// dial timeout (started at start).
func (l *Link) handshake(nc net.Conn, start time.Time) (net.Conn, error) {
	ctx, cancel := context.WithDeadline(l.ctx, start.Add(l.cfg.DialTimeout))
	defer cancel()
	tc := tls.Client(nc, l.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, l.tlsFailure(err)
	}
	return tc, nil
}

// tlsFailure counts a TLS failure (of the handshake, or the host's alert
// right after it) and words it with the setting to check.
func (l *Link) tlsFailure(err error) *handshakeError {
	reason := tlsconf.Reason(err)
	l.st.tls.add(reason)
	return &handshakeError{reason: reason, err: fmt.Errorf("acquirer %s: TLS handshake with %s: %w: %s",
		l.cfg.Name, l.cfg.Addr, err, tlsconf.ClientHint(reason))}
}

// tlsCounters count TLS failures by reason: a counter for each of
// tlsconf.Reasons, made once (nil without TLS), read without locks.
type tlsCounters map[string]*atomic.Int64

func newTLSCounters() tlsCounters {
	c := tlsCounters{}
	for _, r := range tlsconf.Reasons {
		c[r] = new(atomic.Int64)
	}
	return c
}

func (c tlsCounters) add(reason string) {
	if n := c[reason]; n != nil {
		n.Add(1)
	}
}

// snapshot is nil for a link without TLS.
func (c tlsCounters) snapshot() map[string]int64 {
	if c == nil {
		return nil
	}
	m := make(map[string]int64, len(c))
	for r, n := range c {
		m[r] = n.Load()
	}
	return m
}
