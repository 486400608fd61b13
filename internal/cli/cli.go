// Package cli runs the subcommands of tillgate's commands (tillgate, acqsim,
// tillctl, tillbench) the same way: one Command per file, a signal context,
// and errors mapped to exit codes.
package cli

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

// Command is one subcommand.
type Command interface {
	Run(ctx context.Context, args []string) error
	Usage() string
}

// ErrUsage makes Main print the command's usage and exit 2.
var ErrUsage = errors.New("usage")

// Main runs the subcommand args[0] of prog until it returns or SIGINT or
// SIGTERM arrives, and returns the exit code: 0 ok (and help), 1 error,
// 2 usage.
func Main(ctx context.Context, prog, usage string, cmds map[string]Command, args []string, stderr io.Writer) int {
	if len(args) < 1 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) < 1 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s", prog, args[0], usage)
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
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s %s: %v\n\n%s", prog, args[0], err, cmd.Usage())
		return 2
	default:
		fmt.Fprintf(stderr, "%s %s: %v\n", prog, args[0], err)
		return 1
	}
}
