// Command tillgate runs tillgate nodes: `serve` one node for real
// deployments, `demo` a whole local cluster with an acquirer simulator and
// simulated registers, `keygen` a card-data key.
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
		"serve":   &serveCommand{},
		"demo":    &demoCommand{},
		"keygen":  &keygenCommand{},
		"restore": &restoreCommand{},
	}
	if len(os.Args) < 2 {
		usage(cmds)
		os.Exit(2)
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "tillgate: unknown command %q\n\n", os.Args[1])
		usage(cmds)
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
		fmt.Fprintf(os.Stderr, "tillgate %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage(cmds map[string]command) {
	fmt.Fprint(os.Stderr, `tillgate is a high-availability card authorization node.

Usage:
  tillgate serve  --config FILE [flags]   run one node
  tillgate demo   [flags]                 run a local 3-node cluster, acquirer simulator and registers
  tillgate keygen FILE                    write a new card-data key
  tillgate restore --backup FILE --config FILE   seed a new cluster from a backup

Run 'tillgate COMMAND -h' for a command's flags.
`)
}
