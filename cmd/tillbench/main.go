// Command tillbench is the load tester of tillgate (package bench): `run`
// drives a fleet of simulated registers against an existing cluster,
// prints a live progress line, checks the invariants at the end and prints
// PASS or FAIL.
package main

import (
	"context"
	"errors"
	"github.com/tillgate/tillgate/internal/cli"
	"io"
	"os"
)

var (
	// errUsage makes main print the command's usage and exit 2.
	errUsage = cli.ErrUsage
	// errFailed: the run happened but an invariant check failed (exit 1).
	errFailed = errors.New("FAIL: an invariant check failed")
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code (0 PASS, 1
// error or FAIL, 2 usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := map[string]cli.Command{"run": &runCommand{out: stdout}}
	return cli.Main(ctx, "tillbench", usage, cmds, args, stderr)
}

const usage = `tillbench is the load tester of tillgate.

Usage:
  tillbench run --registers-addrs A,B,C --admin-addrs X,Y,Z [--acqsim-admin H:P]
                [--registers N] [--duration D] [--rate R | --think D] [--out DIR]

Run 'tillbench COMMAND -h' for a command's flags.
`
