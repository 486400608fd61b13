// Command acqsim runs the acquirer simulator (package acquirer/sim) as its
// own process: `serve` answers ISO 8583 on TCP with a durable ledger and a
// small admin HTTP API; `totals` prints the ledger of a data directory,
// with or without a server running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand.
type command interface {
	Run(ctx context.Context, args []string) error
	Usage() string
}

// errUsage makes main print the usage and exit 2.
var errUsage = errors.New("usage")

func main() {
	cmds := map[string]command{
		"serve":  &serveCommand{},
		"totals": &totalsCommand{out: os.Stdout},
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "acqsim: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.Run(ctx, os.Args[2:])
	switch {
	case err == nil:
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		fmt.Fprint(os.Stderr, cmd.Usage())
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "acqsim %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `acqsim is an ISO 8583 acquirer host simulator with a durable ledger.

Usage:
  acqsim serve  --data DIR [--listen ADDR] [--latency 0-5ms] [--admin ADDR]
  acqsim totals --data DIR [--json]

Run 'acqsim COMMAND -h' for a command's flags.
`)
}
