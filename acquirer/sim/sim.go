package sim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// Config is one simulated acquirer host.
type Config struct {
	Addr    string  // listen address; "127.0.0.1:0" picks a port (see Sim.Addr)
	DataDir string  // holds the ledger, sim.db
	Latency Latency // per request, before the answer
	Dialect wire.Dialect
	Logger  *slog.Logger // nil: discard
	// Strict makes the host as strict as a real one (see the package
	// doc): duplicate transmissions and STAN reuse answered 94, reversals
	// and completions of an unknown original 25, and the host's own echoes
	// on every connection. Off, the simulator forgives what a client gets
	// wrong, so that tests of other things are not disturbed by it.
	Strict bool
	// StrictConfig tunes strict mode; zero fields take the defaults.
	StrictConfig StrictConfig
	// TLS, if set, serves TLS only: a client that does not complete a
	// handshake (plain TCP, a certificate TLS.ClientCAs does not verify
	// when TLS.ClientAuth requires one) within HandshakeTimeout is closed
	// and counted in Stats.TLSRefused.
	TLS *tls.Config
	// HandshakeTimeout bounds a TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// ACS, if set, is the issuer's access control server whose challenge
	// ranges need proof of authentication: a card-not-present
	// authorization of such a card without a valid value from it is
	// declined RCAuthenticationRequired. Nil: nothing is checked.
	ACS *ACS
	// NoSync commits the ledger without fsync: an answer given survives a
	// crash of the simulator's process (the page cache has it, and bbolt
	// writes the meta page last), not of the machine. A load test kills
	// processes, never the machine, and the two fsyncs per commit were
	// the largest part of the simulator's CPU at 1,000 tx/s.
	NoSync bool
}

// DefaultHandshakeTimeout bounds a TLS handshake when
// Config.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// StrictConfig is the timing of strict mode.
type StrictConfig struct {
	// DupWindow is how long the host remembers an identity for duplicate
	// detection: an original (xx00) of an identity received within it is
	// a duplicate transmission (94); after it the identity is new again,
	// as on a real host whose duplicate table is bounded.
	DupWindow time.Duration
	// EchoEvery is the interval of the host's own 0800 echo on each
	// connection.
	EchoEvery time.Duration
	// EchoTimeout closes a connection that has not answered the host's
	// echo this long after it was sent.
	EchoTimeout time.Duration
}

// Defaults of StrictConfig: a day of duplicate memory (longer than any
// retry tillgate makes), and the echo timing of a typical host.
const (
	DefaultDupWindow   = 24 * time.Hour
	DefaultEchoEvery   = 30 * time.Second
	DefaultEchoTimeout = 10 * time.Second
)

// withDefaults fills the zero fields.
func (c StrictConfig) withDefaults() StrictConfig {
	if c.DupWindow == 0 {
		c.DupWindow = DefaultDupWindow
	}
	if c.EchoEvery == 0 {
		c.EchoEvery = DefaultEchoEvery
	}
	if c.EchoTimeout == 0 {
		c.EchoTimeout = DefaultEchoTimeout
	}
	return c
}

// Validate reports a negative duration.
func (c StrictConfig) Validate() error {
	if c.DupWindow < 0 || c.EchoEvery < 0 || c.EchoTimeout < 0 {
		return fmt.Errorf("strict: dup window %v, echo every %v, echo timeout %v: want >= 0 (0: default)",
			c.DupWindow, c.EchoEvery, c.EchoTimeout)
	}
	return nil
}

// Fault is a run-time misbehaviour, set with SetFault; the zero value is a
// healthy host.
type Fault struct {
	// Down closes every open connection and every new one at once, like a
	// host whose application is dead behind a live listener.
	Down bool
	// ExtraLatency is added to every answer.
	ExtraLatency time.Duration
	// DropAnswers records requests as usual but sends no answer, like a
	// host whose answers are lost on the way back.
	DropAnswers bool
	// DropPercent drops that share (0-100) of the answers, at random,
	// after recording them.
	DropPercent int
	// Late records each request at once but holds its answer this long,
	// so that a client with a shorter timeout sees the answer arrive after
	// it gave up (a late approval).
	Late time.Duration
	// Duplicate sends every answer twice.
	Duplicate bool
}

// Validate reports a fault that cannot be applied.
func (f Fault) Validate() error {
	if f.DropPercent < 0 || f.DropPercent > 100 || f.ExtraLatency < 0 || f.Late < 0 {
		return fmt.Errorf("sim: fault drop_percent %d (want 0-100), extra_latency %v, late %v (want >= 0)", f.DropPercent, f.ExtraLatency, f.Late)
	}
	return nil
}

// Stats are the simulator's counters since Open. The last five stay 0
// unless Config.Strict.
type Stats struct {
	Conns      int64 // connections open now
	Accepted   int64 // connections accepted
	Requests   int64 // frames received
	Answered   int64 // answers queued for writing
	Duplicates int64 // requests answered from the ledger (their identity was known)
	Echoes     int64 // 0800 answered
	Malformed  int64 // frames answered 30, or that closed their connection

	Refused          int64 // frames answered 94: duplicate transmissions and STAN reuse
	STANReuse        int64 // of Refused: DE41+DE11 already used that UTC day with another DE7
	UnknownOriginal  int64 // reversals and completions answered 25 (original unknown)
	HostEchoes       int64 // 0800 echoes the host sent
	HostEchoTimeouts int64 // connections closed for leaving a host echo unanswered

	TLSRefused int64 // connections closed for a failed TLS handshake (Config.TLS)
	// Unauthenticated counts card-not-present authorizations declined
	// RCAuthenticationRequired (Config.ACS).
	Unauthenticated int64
}

type counters struct {
	conns, accepted, requests, answered, duplicates, echoes, malformed atomic.Int64
	refused, stanReuse, unknownOriginal, hostEchoes, hostEchoTimeouts  atomic.Int64
	tlsRefused, unauthenticated                                        atomic.Int64
}

// Sim is a running acquirer simulator.
type Sim struct {
	cfg    Config
	log    *slog.Logger
	codec  *wire.Codec
	ledger *Ledger
	ln     net.Listener
	fault  atomic.Pointer[Fault]
	now    func() time.Time
	strict StrictConfig // with defaults; used only when cfg.Strict

	echoSTAN atomic.Uint32 // DE11 of the host's own echoes

	jobs chan job     // unbuffered: taken only by an idle handler (dispatch)
	idle atomic.Int64 // handlers waiting on jobs

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // accept loop, connections, request handlers
	st        counters
}

// Open opens (or creates) the ledger in cfg.DataDir and starts listening.
func Open(cfg Config) (*Sim, error) { return open(cfg, time.Now) }

// open takes the clock, so that tests can move the day.
func open(cfg Config, now func() time.Time) (*Sim, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ledger, err := openLedger(cfg.DataDir, false, cfg.NoSync)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		ledger.Close()
		return nil, fmt.Errorf("sim: listen %s: %w", cfg.Addr, err)
	}
	s := &Sim{
		cfg: cfg, log: log.With("component", "acqsim"), codec: wire.NewCodec(cfg.Dialect),
		ledger: ledger, ln: ln, now: now, strict: cfg.StrictConfig.withDefaults(),
		conns: map[net.Conn]struct{}{}, done: make(chan struct{}), jobs: make(chan job),
	}
	s.fault.Store(&Fault{})
	s.wg.Add(1)
	go s.accept()
	s.log.Info("listening", "addr", s.Addr(), "latency", cfg.Latency.String(), "data", cfg.DataDir, "strict", cfg.Strict,
		"tls", cfg.TLS != nil)
	return s, nil
}

func validate(cfg Config) error {
	var errs []error
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("no data dir"))
	}
	if err := cfg.Latency.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Dialect.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.StrictConfig.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil {
		errs = append(errs, errors.New("tls: no server certificate"))
	}
	if cfg.HandshakeTimeout < 0 {
		errs = append(errs, fmt.Errorf("handshake timeout %v: want >= 0 (0: default)", cfg.HandshakeTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: config: %w", err)
	}
	return nil
}

// Addr is the address actually listened on.
func (s *Sim) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes every connection, abandons requests still
// in their latency (never recorded, never answered: as if the host died
// before reading them), waits for the rest and closes the ledger.
func (s *Sim) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.ln.Close()
		s.closeConns()
		s.wg.Wait()
		err = s.ledger.Close()
		s.log.Info("stopped")
	})
	return err
}

// Totals is the ledger's Net by kind (approved, not reversed).
func (s *Sim) Totals() (Totals, error) { return s.ledger.Totals() }

// TotalsByDay is the ledger by UTC day of receipt.
func (s *Sim) TotalsByDay() (map[string]DayTotals, error) { return s.ledger.TotalsByDay() }

// Ledger is every record of the ledger, declines and tombstones included,
// in key order (see LedgerRecord).
func (s *Sim) Ledger() ([]LedgerRecord, error) { return s.ledger.Records() }

// SetFault changes the host's behaviour from now on. A fault that does not
// validate is refused and changes nothing.
func (s *Sim) SetFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.fault.Store(&f)
	if f.Down {
		s.closeConns()
	}
	s.log.Warn("fault set", "down", f.Down, "extra_latency", f.ExtraLatency, "drop_answers", f.DropAnswers,
		"drop_percent", f.DropPercent, "late", f.Late, "duplicate", f.Duplicate)
	return nil
}

// Disconnect closes every open connection once (clients reconnect), like a
// network blip; the fault in force stays.
func (s *Sim) Disconnect() {
	s.closeConns()
	s.log.Warn("all connections closed by request")
}

// Fault returns the fault in force.
func (s *Sim) Fault() Fault { return *s.fault.Load() }

// Stats returns a snapshot of the counters.
func (s *Sim) Stats() Stats {
	c := &s.st
	return Stats{
		Conns: c.conns.Load(), Accepted: c.accepted.Load(), Requests: c.requests.Load(),
		Answered: c.answered.Load(), Duplicates: c.duplicates.Load(), Echoes: c.echoes.Load(),
		Malformed: c.malformed.Load(), Refused: c.refused.Load(), STANReuse: c.stanReuse.Load(),
		UnknownOriginal: c.unknownOriginal.Load(), HostEchoes: c.hostEchoes.Load(),
		HostEchoTimeouts: c.hostEchoTimeouts.Load(), TLSRefused: c.tlsRefused.Load(),
		Unauthenticated: c.unauthenticated.Load(),
	}
}

func (s *Sim) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			s.log.Warn("accept", "err", err)
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		s.st.accepted.Add(1)
		if s.Fault().Down || !s.track(nc) {
			nc.Close()
			continue
		}
		s.wg.Add(1)
		go s.serve(nc)
	}
}

// track registers a connection so that Close and Down can close it; false
// once closing.
func (s *Sim) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
	}
	s.conns[nc] = struct{}{}
	s.st.conns.Add(1)
	return true
}

func (s *Sim) untrack(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[nc]; ok {
		delete(s.conns, nc)
		s.st.conns.Add(-1)
	}
}

func (s *Sim) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for nc := range s.conns {
		nc.Close()
	}
}

// sleep waits d; false when the simulator closes meanwhile.
func (s *Sim) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}
