package failover

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/wire"
)

// Config tunes a Client. Start from DefaultConfig; Nodes and ReversalQueue
// are required.
type Config struct {
	// Nodes are the register addresses (host:port) of the cluster's nodes.
	// One address is enough: answers name the active.
	Nodes   []string
	Dialect wire.Dialect
	// TLS, if set, carries every connection over TLS (TLSFiles.Load builds
	// one): the node's certificate is verified against its RootCAs (nil:
	// the system's), for its ServerName or, if that is empty, the host of
	// the node's address; Certificates, if any, is the register's client
	// certificate. nil: plain TCP.
	TLS *tls.Config

	DialTimeout time.Duration // dial plus sign-on of a new connection
	// Deadline bounds one Do: past it with bytes sent and no answer, the
	// outcome is unknown and a reversal is queued.
	Deadline time.Duration
	// AttemptTimeout bounds one send; then a repeat goes out (several fit
	// in Deadline). The node answers within its acquirer timeout + 5 s.
	AttemptTimeout time.Duration
	EchoIdle       time.Duration // echo after this long without traffic
	DeadAfter      time.Duration // a link silent this long is dead
	// SilenceProbe: while a request waits on a link that has said nothing
	// for this long, an echo goes out on it, and a node that still says
	// nothing for as long again is taken for dead and the request repeated
	// elsewhere. A paused or wedged process keeps its connections open, so
	// without it a register would wait out AttemptTimeout. 0 turns it off.
	SilenceProbe time.Duration
	// Hold is how long a new request waits while no active is known.
	Hold time.Duration
	// RecheckMin/Max bound the jittered re-check interval while holding.
	RecheckMin, RecheckMax time.Duration
	// BreakerFailures consecutive failures open a node's breaker.
	BreakerFailures int
	// OfflineProbe is how long the client fails fast once offline (±20%).
	OfflineProbe time.Duration
	// Backoff is the per-node reconnect backoff: BackoffMin × BackoffFactor
	// per failure up to BackoffMax, jittered.
	BackoffMin, BackoffMax time.Duration
	BackoffFactor          float64
	// RepeatBackoff is the pause before a repeat (doubles, jittered,
	// bounded by AttemptTimeout/2).
	RepeatBackoff time.Duration

	// ReversalQueue is the bbolt file of the store-and-forward queue (and
	// of the register's STAN sequence). One client per file. With
	// SharedQueue, it is the register's name in that file instead.
	ReversalQueue string
	// SharedQueue, if set, keeps the queue in a file shared by the
	// simulated registers of one process (OpenSharedQueue): their changes
	// are written together, never fsync'd. A real register leaves it nil.
	SharedQueue *SharedQueue
	// QueueNoSync skips the fsync of the queue's commits (two per request
	// that may need undoing: the write-ahead and its removal). Entries then
	// survive a crash of the register's process, not a power loss or an OS
	// crash. For simulated fleets, where thousands of registers share one
	// disk; a real register keeps the default.
	QueueNoSync bool
	// QueueKeyFile is the register's queue key (64 hex digits, as
	// WriteQueueKeyFile writes it; the file must be readable by its owner
	// only), which seals the one card number the queue keeps: that of an
	// 0120, an authorization the register approved offline, which no
	// original names. "": no key, and an 0120 carrying a card is refused
	// (ErrInvalidRequest) rather than queued with its card in clear.
	// Nothing else sent needs it: reversals go without DE2, 0220
	// completions too (the node takes the card from the original DE90
	// names), and track 2, PIN block, ICC and expiry are never queued.
	QueueKeyFile string
	// ReversalBackoffMin/Max bound the resend interval of a queued entry.
	ReversalBackoffMin, ReversalBackoffMax time.Duration
	// AlertAfter attempts of one entry raise an EventAlert.
	AlertAfter int

	// NewSTAN, if set, is the register's own DE11 sequence, lent to the
	// client for its reversals and network messages (Client.NextSTAN calls
	// it). Default: the client owns the sequence (kept in ReversalQueue)
	// and the register takes its STANs from Client.NextSTAN. Never two
	// sequences for one terminal: a reversal could repeat the STAN of a
	// sale of the same second.
	NewSTAN func() string
	Logger  *slog.Logger
	// OnEvent, if set, receives every Event synchronously: keep it fast.
	OnEvent func(Event)
}

// DefaultConfig returns DESIGN.md's suggested timings.
func DefaultConfig() Config {
	return Config{
		Dialect:            wire.DefaultDialect(),
		DialTimeout:        3 * time.Second,
		Deadline:           30 * time.Second,
		AttemptTimeout:     10 * time.Second,
		EchoIdle:           30 * time.Second,
		DeadAfter:          60 * time.Second,
		SilenceProbe:       1500 * time.Millisecond,
		Hold:               5 * time.Second,
		RecheckMin:         250 * time.Millisecond,
		RecheckMax:         500 * time.Millisecond,
		BreakerFailures:    3,
		OfflineProbe:       30 * time.Second,
		BackoffMin:         500 * time.Millisecond,
		BackoffMax:         30 * time.Second,
		BackoffFactor:      1.6,
		RepeatBackoff:      200 * time.Millisecond,
		ReversalBackoffMin: 10 * time.Second,
		ReversalBackoffMax: 5 * time.Minute,
		AlertAfter:         5,
	}
}

// validate reports the first setting that cannot work.
func (c *Config) validate() error {
	switch {
	case len(c.Nodes) == 0:
		return fmt.Errorf("%w: no nodes", ErrConfig)
	case c.ReversalQueue == "":
		return fmt.Errorf("%w: ReversalQueue (bbolt file, or name in SharedQueue) is empty", ErrConfig)
	case c.DialTimeout <= 0 || c.Deadline <= 0 || c.AttemptTimeout <= 0:
		return fmt.Errorf("%w: DialTimeout, Deadline and AttemptTimeout must be positive", ErrConfig)
	case c.EchoIdle <= 0 || c.DeadAfter <= c.EchoIdle:
		return fmt.Errorf("%w: want 0 < EchoIdle < DeadAfter", ErrConfig)
	case c.SilenceProbe < 0:
		return fmt.Errorf("%w: SilenceProbe must not be negative (0 turns it off)", ErrConfig)
	case c.RecheckMin <= 0 || c.RecheckMax < c.RecheckMin:
		return fmt.Errorf("%w: want 0 < RecheckMin <= RecheckMax", ErrConfig)
	case c.BreakerFailures < 1:
		return fmt.Errorf("%w: BreakerFailures must be at least 1", ErrConfig)
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin || c.BackoffFactor < 1:
		return fmt.Errorf("%w: reconnect backoff", ErrConfig)
	case c.ReversalBackoffMin <= 0 || c.ReversalBackoffMax < c.ReversalBackoffMin:
		return fmt.Errorf("%w: reversal backoff", ErrConfig)
	case c.OfflineProbe <= 0 || c.Hold < 0 || c.RepeatBackoff < 0:
		return fmt.Errorf("%w: OfflineProbe, Hold, RepeatBackoff", ErrConfig)
	}
	if err := c.Dialect.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// TLSFiles is a register's TLS, as PEM files.
type TLSFiles struct {
	// CAFile holds the CA(s) node certificates chain to; "" trusts the
	// system's roots.
	CAFile string
	// CertFile and KeyFile are the register's own certificate, for nodes
	// that require one; "" sends none.
	CertFile, KeyFile string
	// ServerName is the name node certificates must carry; "" is the host
	// of each node's address.
	ServerName string
}

// Load reads the files into a Config.TLS, with tlsconf's policy (TLS 1.2
// at least, 1.3 preferred, modern suites) and a session cache, so that a
// reconnect resumes instead of a full handshake.
func (f TLSFiles) Load() (*tls.Config, error) {
	cfg, err := tlsconf.Client{CAFile: f.CAFile, CertFile: f.CertFile, KeyFile: f.KeyFile, ServerName: f.ServerName}.Config()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	return cfg, nil
}
