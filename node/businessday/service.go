package businessday

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/store"
)

// State is what the business day reads of the replicated state:
// store.Store.
type State interface {
	OpenDay() (string, error)
	Days() ([]*store.Day, error)
	Day(day string) (*store.Day, error)
	PendingBefore(index uint64) (bool, error)
	EachInDay(ctx context.Context, day string, fn func(store.DayTxn) error) error
	Batch(terminal string, number uint64) (*store.Batch, bool, error)
	ByRRN(rrn string) (*store.Txn, bool, error)
}

// Log is the replicated log: cluster.Cluster.
type Log interface {
	Apply(ctx context.Context, cmd []byte) (any, error)
}

// Options is what a Service is built from.
type Options struct {
	Config Config
	// DataDir holds the settlement files unless Config.SettlementDir says
	// otherwise.
	DataDir string
	// Acquirers are the configured acquirers, sorted: each has a file of
	// every settled day.
	Acquirers []string
	// Clock, if set, replaces time.Now (tests jump it).
	Clock func() time.Time
	// Failpoint, if set, is called at the named points of the close
	// (FailpointCutover, ...): fault tests kill the process there.
	Failpoint func(name string)

	State State
	Raft  Log

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service is a node's business day.
type Service struct {
	o       Options
	sched   schedule
	log     *slog.Logger
	metrics *metrics
	wake    chan struct{} // wakes Run after a cutover
	passMu  sync.Mutex    // held by the pass that runs
}

// New returns the service and registers its metrics. o.Config must be
// valid (Config.Validate).
func New(o Options) *Service {
	s := &Service{o: o, log: o.Logger, wake: make(chan struct{}, 1)}
	s.sched, _ = o.Config.schedule()
	s.metrics = newMetrics(o.Registerer)
	return s
}

// serveDirPrefix names the directories the admin API renders files into,
// renderPrefix the temporary files of a rendering.
const (
	serveDirPrefix = ".serve-"
	renderPrefix   = ".render-"
)

// SettlementDir is where the settled days' files go, one directory per day.
func (s *Service) SettlementDir() string {
	if s.o.Config.SettlementDir != "" {
		return s.o.Config.SettlementDir
	}
	return filepath.Join(s.o.DataDir, "settlement")
}

// RemoveServeLeftovers removes what a crash left of files rendered for the
// admin API (ServeDir).
func (s *Service) RemoveServeLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(s.SettlementDir(), serveDirPrefix+"*"))
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

// ServeDir makes a directory of its own beside the active's files, to
// render a file the admin API serves (Render): nothing of the day is held
// in memory. The caller removes it.
func (s *Service) ServeDir() (string, error) {
	if err := os.MkdirAll(s.SettlementDir(), 0o700); err != nil {
		return "", err
	}
	return os.MkdirTemp(s.SettlementDir(), serveDirPrefix)
}

// FileMismatch counts and logs a file that rendered differently from the
// checksum in the log: this node's state diverged.
func (s *Service) FileMismatch(day, acq, format string) {
	s.metrics.settlementErrors.Inc()
	s.log.Error("settlement file renders differently from the checksum in the log", "day", day, "acquirer", acq, "format", format)
}
