package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/tillgate/tillgate/bench"
	"github.com/tillgate/tillgate/loadtest"
)

// loadFlags are the flags `run` and `local` share: the scenario and the
// reports.
type loadFlags struct {
	scenario, mix, out, queues, logLevel *string
	cpuProfile                           *string
	registers, base, hostile             *int
	duration, think, deadline, settle    *time.Duration
	rate                                 *float64
	noBatchClose, noDayClose             *bool
	txns                                 *int64
	seed                                 *uint64
}

func addLoadFlags(fs *flag.FlagSet, defaultScenario string) *loadFlags {
	return &loadFlags{
		scenario:  fs.String("scenario", defaultScenario, "scenario: "+strings.Join(bench.Scenarios, ", ")+" (it sets the flags below left at 0)"),
		registers: fs.Int("registers", 0, "simulated registers (default: the scenario's, 2000)"),
		hostile:   fs.Int("hostile", 0, "hostile connections beside the load: a third each idle, half-frame, garbage (plain TCP), reconnecting when closed"),
		duration:  fs.Duration("duration", 0, "how long new transactions start (default: the scenario's; day: from --transactions and --rate)"),
		rate:      fs.Float64("rate", 0, "open loop: offered tx/s, the peak rate for day (default: open 1000, latency 2000, day 20000)"),
		think:     fs.Duration("think", 0, "closed loop: think time between a register's transactions (±50%)"),
		txns:      fs.Int64("transactions", 0, "stop after this many transactions (day default: 1,000,000)"),
		mix:       fs.String("mix", loadtest.DefaultMix().String(), "message mix as kind=weight,... (kinds: purchase, refund, preauth, completion, reversal, echo)"),
		out:       fs.String("out", "", "directory for summary.txt, report.json and report.html"),
		queues:    fs.String("queue-dir", "", "directory for the registers' reversal queues (default: a temp dir)"),
		base:      fs.Int("terminal-base", 0, "first terminal number (DE41 L0000000 + base)"),
		deadline:  fs.Duration("register-deadline", 0, "override the registers' failover deadline (default 30 s)"),
		settle:    fs.Duration("settle-timeout", time.Minute, "how long to wait for queues to drain and nodes to converge"),
		seed:      fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed"),
		logLevel:  fs.String("log-level", "warn", "harness log (stderr): debug, info, warn or error"),
		cpuProfile: fs.String("cpuprofile", "", "write tillbench's own CPU profile (registers, checks) to this file, for go tool pprof;"+
			" a node's is at its admin API's /debug/pprof/profile"),
		noBatchClose: fs.Bool("no-batch-close", false,
			"do not close the registers' batches (0500, upload on 95) after the load, nor check them"),
		noDayClose: fs.Bool("no-day-close", false,
			"do not cut the business day over after the load, nor check its settlement file and reconciliation"),
	}
}

// options builds the load of the flags.
func (f *loadFlags) options(progress io.Writer) (bench.Options, error) {
	m, err := loadtest.ParseMix(*f.mix)
	if err != nil {
		return bench.Options{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return bench.Options{}, fmt.Errorf("%w: --log-level: %w", errUsage, err)
	}
	return bench.Options{
		Scenario: *f.scenario, Registers: *f.registers, Duration: *f.duration, Rate: *f.rate, Think: *f.think,
		Transactions: *f.txns, Mix: m, TerminalBase: *f.base, Seed: *f.seed, RegisterDeadline: *f.deadline,
		OutDir: *f.out, QueueDir: *f.queues, Progress: progress, SettleTimeout: *f.settle, NoBatchClose: *f.noBatchClose,
		NoDayClose: *f.noDayClose, Hostile: *f.hostile,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}, nil
}

// profile starts tillbench's CPU profile if --cpuprofile asks for one; the
// returned func stops it and closes the file.
func (f *loadFlags) profile() (func(), error) {
	if *f.cpuProfile == "" {
		return func() {}, nil
	}
	out, err := os.Create(*f.cpuProfile)
	if err != nil {
		return nil, fmt.Errorf("%w: --cpuprofile: %w", errUsage, err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); out.Close() }, nil
}

// verdict maps a finished run to the command's error.
func verdict(res *bench.Result, err error) error {
	if err != nil {
		return err
	}
	if !res.Pass {
		return errFailed
	}
	return nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
