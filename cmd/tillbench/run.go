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
	return `usage: tillbench run --registers-addrs A,B,C --admin-addrs X,Y,Z [--admin-cacert FILE] [--acqsim-admin H:P] [flags]

Drives simulated registers (failover clients) against a running cluster
in the named --scenario (closed loop by default, 2000 registers, 60 s),
recording every request and every queued reversal of every register (its
history). Prints a progress line every second, then closes every
register's batch (0500; on 95 an upload of its transactions, 0320, and
0500 960000; skip with --no-batch-close): a batch closes on its first
0500, or, in a run with faults, after an upload whose difference is
exactly what that register never learnt (requests left unknown).

Then it waits for the cluster to be quiet (no INTENT open, no SAF entry
owed, every node at one applied index and hash) and runs the per-identity
checker over the history, every node's transactions, leaders, hash and
totals (admin API) and acqsim's ledger (GET /ledger): every approval a
register holds is approved on every node and once at the acquirer, every
decline and every unknown outcome nets to zero, nothing is a phantom, no
duplicate reached the acquirer, totals agree, one leader per term, each
identity's history is linearizable (FAULTS.md I1-I7). A cluster that held
transactions before the run is judged on what the run added.

Point --acqsim-admin at an acqsim running --strict (acqsim serve --strict):
it refuses duplicates (94) and reversals of unknown originals (25) and
sends its own echoes, as a real host does; the check fails if a node left
a host echo unanswered. Without --acqsim-admin every rule on the
acquirer's side is skipped, and the report says so.

Then (unless --no-day-close) it cuts the business day over, waits for the
day's settlement files, checks that every node serves the bytes whose
SHA-256 the log records and reconciles each with acqsim's export of the
day, and prints PASS or FAIL (exit 1). CPU and memory per node come from
each node's /metrics. With --out, writes summary.txt, report.json,
report.html and history.jsonl there.

`
}

func (c *runCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	regAddrs := fs.String("registers-addrs", "", "comma-separated register addresses of the nodes (required)")
	adminAddrs := fs.String("admin-addrs", "", "comma-separated admin API addresses of the nodes (required)")
	token := fs.String("admin-token", os.Getenv("TILLGATE_ADMIN_TOKEN"), "bearer token of the admin APIs: read-only checks; an operator token if the run closes the day (default $TILLGATE_ADMIN_TOKEN)")
	cacert := fs.String("admin-cacert", "", "CA certificate (PEM) of the admin APIs' HTTPS: --admin-addrs without a scheme are then https")
	acqsim := fs.String("acqsim-admin", "", "admin address host:port of an acqsim running --strict; empty skips the acquirer's side of the checks")
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
	stop, err := lf.profile()
	if err != nil {
		return err
	}
	defer stop()
	o.RegisterAddrs, o.AdminAddrs, o.AdminToken, o.AcqsimAdmin = split(*regAddrs), split(*adminAddrs), *token, *acqsim
	o.AdminCACert = *cacert
	return verdict(bench.RunAgainst(ctx, o))
}
