// Command tillgate runs tillgate nodes: `serve` one node for real
// deployments, `demo` a whole local cluster with an acquirer simulator and
// simulated registers, `keygen` a card-data key, `restore` a new cluster
// from a backup.
package main

import (
	"context"
	"os"

	"github.com/tillgate/tillgate/internal/cli"
)

// errUsage makes main print the command's usage and exit 2.
var errUsage = cli.ErrUsage

func main() {
	cmds := map[string]cli.Command{
		"serve":   &serveCommand{},
		"demo":    &demoCommand{},
		"keygen":  &keygenCommand{},
		"restore": &restoreCommand{},
		"panhash": &panhashCommand{in: os.Stdin, out: os.Stdout},
	}
	os.Exit(cli.Main(context.Background(), "tillgate", usage, cmds, os.Args[1:], os.Stderr))
}

const usage = `tillgate is a high-availability card authorization node.

Usage:
  tillgate serve  --config FILE [flags]   run one node
  tillgate demo   [flags]                 run a local 3-node cluster, acquirer simulator and registers
  tillgate keygen FILE                    write a new card-data key
  tillgate panhash KEYFILE < pans         keyed PAN hashes for the stand-in negative list
  tillgate restore --backup FILE --config FILE   seed a new cluster from a backup

Run 'tillgate COMMAND -h' for a command's flags.
`
