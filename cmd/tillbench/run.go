package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tillgate/tillgate/bench"
)

// runCommand is `tillbench run`: load against an existing cluster.
type runCommand struct {
	out io.Writer
}

func (c *runCommand) Usage() string {
	return `usage: tillbench run --registers-addrs A,B,C --admin-addrs X,Y,Z [flags]

Drives simulated registers (failover clients) against a running cluster
in the named --scenario (closed loop by default, 2000 registers, 60 s).
Prints a progress line every second, then closes every register's batch
(0500; on 95 an upload of its transactions, 0320, and 0500 960000; skip
with --no-batch-close) and checks that every batch closed on its first
0500 (after an upload only in runs with faults), that no INTENT is left
open, that the nodes converge to the same state hash and (with
--acqsim-admin) that their totals equal acqsim's and acqsim saw no
duplicate. Then (unless --no-day-close) it cuts the business day over,
waits for the day's settlement files, checks that every node serves the
bytes whose SHA-256 the log records and reconciles each with acqsim's
export of the day, and prints PASS or FAIL (exit 1). CPU and memory per node come
from each node's /metrics. With --out, writes summary.txt, report.json
and report.html there.

`
}

func (c *runCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	regAddrs := fs.String("registers-addrs", "", "comma-separated register addresses of the nodes (required)")
	adminAddrs := fs.String("admin-addrs", "", "comma-separated admin API addresses of the nodes (required)")
	token := fs.String("admin-token", os.Getenv("TILLGATE_ADMIN_TOKEN"), "bearer token of the admin APIs (default $TILLGATE_ADMIN_TOKEN)")
	acqsim := fs.String("acqsim-admin", "", "acqsim admin address host:port; empty skips the acquirer checks")
	lf := addLoadFlags(fs, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *regAddrs == "" || *adminAddrs == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --registers-addrs and --admin-addrs are required", errUsage)
	}
	o, err := lf.options(c.out)
	if err != nil {
		return err
	}
	o.RegisterAddrs, o.AdminAddrs, o.AdminToken, o.AcqsimAdmin = split(*regAddrs), split(*adminAddrs), *token, *acqsim
	return verdict(bench.RunAgainst(ctx, o))
}
