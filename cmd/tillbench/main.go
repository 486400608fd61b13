// Command tillbench is the load tester of tillgate (package bench): `run`
// drives a fleet of simulated registers against an existing cluster;
// `local` starts a cluster of its own (tillgate and acqsim processes) and
// can kill or pause its active under load. Both print a live progress
// line, check the invariants at the end, print PASS or FAIL and write
// text, JSON and HTML reports.
package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/tillgate/tillgate/internal/cli"
)

var (
	// errUsage makes main print the command's usage and exit 2.
	errUsage = cli.ErrUsage
	// errFailed: the run happened but an invariant check failed (exit 1).
	errFailed = errors.New("FAIL: an invariant check failed")
)

func main() {
	cli.TuneBenchGC()
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code (0 PASS, 1
// error or FAIL, 2 usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := map[string]cli.Command{"run": &runCommand{out: stdout}, "local": &localCommand{out: stdout}}
	return cli.Main(ctx, "tillbench", usage, cmds, args, stderr)
}

const usage = `tillbench is the load tester of tillgate.

Usage:
  tillbench run --registers-addrs A,B,C --admin-addrs X,Y,Z [--acqsim-admin H:P]
                [--scenario S] [--registers N] [--duration D] [--rate R | --think D] [--out DIR]
  tillbench local [--nodes 3|1] [--scenario closed|open|latency|day] [--transactions N]
                [--kill-active-every D] [--pause-active D] [--partition-active D] [--out DIR]
  tillbench local --chaos NAME [--chaos-hold D] [--out DIR]

Run 'tillbench COMMAND -h' for a command's flags.
`
