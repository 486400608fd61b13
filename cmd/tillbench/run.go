package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tillgate/tillgate/bench"
	"github.com/tillgate/tillgate/loadtest"
)

// runCommand is `tillbench run`: load against an existing cluster.
type runCommand struct {
	out io.Writer
}

func (c *runCommand) Usage() string {
	return `usage: tillbench run --registers-addrs A,B,C --admin-addrs X,Y,Z [flags]

Drives --registers simulated registers (failover clients) against the
cluster for --duration: closed loop with --think between transactions, or
open loop at --rate tx/s (Poisson arrivals) when --rate is set. Prints a
progress line every second, then checks that the nodes converge to the
same state hash and that their totals equal acqsim's (if --acqsim-admin
is given), and prints PASS or FAIL (exit 1). With --out, writes
summary.txt and report.json there.

`
}

func (c *runCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	regAddrs := fs.String("registers-addrs", "", "comma-separated register addresses of the nodes (required)")
	adminAddrs := fs.String("admin-addrs", "", "comma-separated admin API addresses of the nodes (required)")
	token := fs.String("admin-token", os.Getenv("TILLGATE_ADMIN_TOKEN"), "bearer token of the admin APIs (default $TILLGATE_ADMIN_TOKEN)")
	acqsim := fs.String("acqsim-admin", "", "acqsim admin address host:port; empty skips the totals check")
	registers := fs.Int("registers", 2000, "simulated registers")
	duration := fs.Duration("duration", 60*time.Second, "how long new transactions start")
	rate := fs.Float64("rate", 0, "open loop: offered tx/s (Poisson); 0 selects closed loop")
	think := fs.Duration("think", 0, "closed loop: think time between a register's transactions (±50%)")
	mix := fs.String("mix", "purchase=9,refund=1", "message mix as kind=weight,...")
	out := fs.String("out", "", "directory for summary.txt and report.json")
	queues := fs.String("queue-dir", "", "directory for the registers' reversal queues (default: a temp dir)")
	base := fs.Int("terminal-base", 0, "first terminal number (DE41 L0000000 + base)")
	deadline := fs.Duration("register-deadline", 0, "override the registers' failover deadline (default 30 s)")
	settle := fs.Duration("settle-timeout", time.Minute, "how long to wait for queues to drain and nodes to converge")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *regAddrs == "" || *adminAddrs == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --registers-addrs and --admin-addrs are required", errUsage)
	}
	m, err := loadtest.ParseMix(*mix)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	res, err := bench.RunAgainst(ctx, bench.Options{
		RegisterAddrs: split(*regAddrs), AdminAddrs: split(*adminAddrs), AdminToken: *token,
		AcqsimAdmin: *acqsim, Registers: *registers, Duration: *duration, Rate: *rate, Think: *think,
		Mix: m, TerminalBase: *base, Seed: *seed, RegisterDeadline: *deadline, OutDir: *out,
		QueueDir: *queues, Progress: c.out, SettleTimeout: *settle,
	})
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
