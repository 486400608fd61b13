package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tillgate/tillgate/loadtest"
)

// Options describe a run against an existing cluster.
type Options struct {
	RegisterAddrs []string // the nodes' register listeners
	AdminAddrs    []string // the nodes' admin APIs, to check invariants
	AdminToken    string   // bearer token of the admin APIs, if any
	// AcqsimAdmin is acqsim's admin HTTP address (host:port); empty skips
	// the totals check against the acquirer.
	AcqsimAdmin string

	Registers    int
	Duration     time.Duration
	Rate         float64       // > 0: open loop at Rate tx/s
	Think        time.Duration // closed loop think time
	Mix          loadtest.Mix
	TerminalBase int
	Seed         uint64
	// RegisterDeadline overrides the registers' failover Deadline when
	// set (see loadtest.Config).
	RegisterDeadline time.Duration

	// OutDir receives summary.txt and report.json; empty writes none.
	OutDir string
	// QueueDir holds the registers' reversal queues; empty: a temp dir.
	QueueDir string
	// Progress receives the live line every second; nil: none.
	Progress io.Writer
	// SettleTimeout bounds draining the reversal queues and waiting for
	// the nodes to converge (default 60 s).
	SettleTimeout time.Duration
}

// Check is one invariant checked at the end.
type Check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Skip   bool   `json:"skip,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Result is a finished run.
type Result struct {
	Options  OptionsJSON          `json:"options"`
	Summary  loadtest.Summary     `json:"summary"`
	Client   loadtest.ClientStats `json:"client"`
	Checks   []Check              `json:"checks"`
	Pass     bool                 `json:"pass"`
	Started  time.Time            `json:"started"`
	Finished time.Time            `json:"finished"`
}

// OptionsJSON is what the report records of the options.
type OptionsJSON struct {
	Registers int           `json:"registers"`
	Duration  time.Duration `json:"duration_ns"`
	Rate      float64       `json:"rate,omitempty"`
	Think     time.Duration `json:"think_ns,omitempty"`
	Mix       loadtest.Mix  `json:"mix"`
	Nodes     []string      `json:"register_addrs"`
}

// RunAgainst drives the scenario against the cluster, checks the
// invariants, prints PASS or FAIL to Progress and writes the reports. The
// error is for a run that could not happen; a failed check is Result.Pass
// false.
func RunAgainst(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	qdir, cleanup, err := o.queueDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	fleet, err := loadtest.Open(o.fleetConfig(qdir))
	if err != nil {
		return nil, err
	}
	res := &Result{Options: o.json(), Started: time.Now()}
	res.Summary = runWithProgress(ctx, fleet, o)
	drainErr := drain(ctx, fleet, o.SettleTimeout)
	res.Client = fleet.ClientStats()
	fleet.Close()
	res.Checks = append(res.Checks, drainErr)
	res.Checks = append(res.Checks, newChecker(o).run(ctx)...)
	res.Finished = time.Now()
	res.Pass = true
	for _, c := range res.Checks {
		res.Pass = res.Pass && (c.Pass || c.Skip)
	}
	if o.Progress != nil {
		WriteSummary(o.Progress, res)
	}
	return res, o.write(res)
}

func (o *Options) defaults() error {
	switch {
	case len(o.RegisterAddrs) == 0:
		return errors.New("bench: no register addresses")
	case len(o.AdminAddrs) == 0:
		return errors.New("bench: no admin addresses: the invariants cannot be checked")
	}
	if o.Mix == (loadtest.Mix{}) {
		o.Mix = loadtest.DefaultMix()
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = time.Minute
	}
	return nil
}

func (o *Options) queueDir() (string, func(), error) {
	if o.QueueDir != "" {
		return o.QueueDir, func() {}, os.MkdirAll(o.QueueDir, 0o755)
	}
	d, err := os.MkdirTemp("", "tillbench-queues-")
	if err != nil {
		return "", nil, fmt.Errorf("bench: %w", err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

func (o *Options) fleetConfig(qdir string) loadtest.Config {
	return loadtest.Config{
		Nodes: o.RegisterAddrs, Registers: o.Registers, Dir: qdir, TerminalBase: o.TerminalBase,
		Rate: o.Rate, Think: o.Think, Duration: o.Duration, Mix: o.Mix, Seed: o.Seed,
		RegisterDeadline: o.RegisterDeadline,
	}
}

func (o *Options) json() OptionsJSON {
	return OptionsJSON{Registers: o.Registers, Duration: o.Duration, Rate: o.Rate, Think: o.Think,
		Mix: o.Mix, Nodes: o.RegisterAddrs}
}

// runWithProgress runs the fleet, printing a progress line every second.
func runWithProgress(ctx context.Context, f *loadtest.Fleet, o Options) loadtest.Summary {
	done := make(chan struct{})
	if o.Progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					fmt.Fprintln(o.Progress, progressLine(f.Snapshot(), o.Duration))
				}
			}
		}()
	}
	s := f.Run(ctx)
	close(done)
	return s
}

// progressLine formats a snapshot with the ETA of the load phase.
func progressLine(s loadtest.Snapshot, total time.Duration) string {
	eta := max(total-s.Elapsed, 0) + time.Second - 1 // rounded up
	return fmt.Sprintf("%6s  %7.0f tx/s  in flight %5d  p99 %8s  done %9d  errors %d (unknown %d, not sent %d)  eta %s",
		s.Elapsed.Truncate(time.Second), s.TxPerSec, s.InFlight, s.P99.Round(10*time.Microsecond),
		s.Completed, s.Errors, s.Unknown, s.NotSent, eta.Truncate(time.Second))
}

func drain(ctx context.Context, f *loadtest.Fleet, timeout time.Duration) Check {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := Check{Name: "reversal queues drained", Pass: true}
	if err := f.Drain(ctx); err != nil {
		c.Pass, c.Detail = false, err.Error()
	}
	return c
}

// write saves summary.txt and report.json under OutDir.
func (o *Options) write(res *Result) error {
	if o.OutDir == "" {
		return nil
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.OutDir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	f, err := os.Create(filepath.Join(o.OutDir, "summary.txt"))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	WriteSummary(f, res)
	return f.Close()
}
