package acquirer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/wire"
)

// Config is one acquirer link.
type Config struct {
	Name         string        // acquirer name, for logs and routing
	Addr         string        // host:port of the acquirer host
	Conns        int           // connections in the pool (default 4)
	Timeout      time.Duration // a request (or echo) unanswered this long is ErrTimeout (default 8s)
	DialTimeout  time.Duration // default 3s
	EchoInterval time.Duration // echo a connection that received nothing this long (default 30s)
	Dialect      wire.Dialect
	// TLS, if set, carries every connection over TLS: the acquirer's
	// certificate is verified against TLS.CAFile for TLS.ServerName (or
	// the host of Addr), and TLS.CertFile/KeyFile are presented to a host
	// that requires a client certificate. The handshake is bounded by
	// DialTimeout.
	TLS    *tlsconf.Client
	Logger *slog.Logger // nil: discard
}

// Defaults.
const (
	DefaultConns        = 4
	DefaultTimeout      = 8 * time.Second
	DefaultDialTimeout  = 3 * time.Second
	DefaultEchoInterval = 30 * time.Second
)

// DefaultConfig is a link with the defaults and no address.
func DefaultConfig() Config {
	return Config{
		Name:         "acquirer",
		Conns:        DefaultConns,
		Timeout:      DefaultTimeout,
		DialTimeout:  DefaultDialTimeout,
		EchoInterval: DefaultEchoInterval,
		Dialect:      wire.DefaultDialect(),
	}
}

// withDefaults fills zero values, so that a Config literal with only an
// address works.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.Conns <= 0 {
		c.Conns = d.Conns
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.EchoInterval <= 0 {
		c.EchoInterval = d.EchoInterval
	}
	return c
}

// Validate reports a config Open would refuse.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is empty"))
	}
	if c.Conns < 0 || c.Conns > 256 {
		errs = append(errs, fmt.Errorf("conns %d not in 1..256", c.Conns))
	}
	if err := c.Dialect.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
