// Command tillbench is the load tester of tillgate (package bench): `run`
// drives a fleet of simulated registers against an existing cluster,
// prints a live progress line, checks the invariants at the end and prints
// PASS or FAIL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand.
type command interface {
	Run(ctx context.Context, args []string) error
	Usage() string
}

var (
	// errUsage makes main print the command's usage and exit 2.
	errUsage = errors.New("usage")
	// errFailed: the run happened but an invariant check failed (exit 1).
	errFailed = errors.New("FAIL: an invariant check failed")
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code (0 PASS, 1
// error or FAIL, 2 usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := map[string]command{"run": &runCommand{out: stdout}}
	if len(args) < 1 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) < 1 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tillbench: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.Run(ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, cmd.Usage())
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "tillbench %s: %v\n\n%s", args[0], err, cmd.Usage())
		return 2
	default:
		fmt.Fprintf(stderr, "tillbench %s: %v\n", args[0], err)
		return 1
	}
}

const usage = `tillbench is the load tester of tillgate.

Usage:
  tillbench run --registers-addrs A,B,C --admin-addrs X,Y,Z [--acqsim-admin H:P]
                [--registers N] [--duration D] [--rate R | --think D] [--out DIR]

Run 'tillbench COMMAND -h' for a command's flags.
`
