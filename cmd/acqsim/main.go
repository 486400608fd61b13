// Command acqsim runs the acquirer simulator (package acquirer/sim) as its
// own process: `serve` answers ISO 8583 on TCP with a durable ledger
// (`--strict`: as strictly as a real host) and a small admin HTTP API
// (totals, stats, the ledger, faults); `totals` prints the ledger of a
// data directory, with or without a server running; `settlement` writes
// the acquirer's settlement file of a window; `fault` sets a running
// server's faults.
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
		"serve":      &serveCommand{},
		"totals":     &totalsCommand{out: os.Stdout},
		"fault":      &faultCommand{out: os.Stdout},
		"settlement": &settlementCommand{out: os.Stdout},
	}
	os.Exit(cli.Main(context.Background(), "acqsim", usage, cmds, os.Args[1:], os.Stderr))
}

const usage = `acqsim is an ISO 8583 acquirer host simulator with a durable ledger.

Usage:
  acqsim serve  --data DIR [--listen ADDR] [--latency 0-5ms] [--admin ADDR] [--strict]
                [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
  acqsim totals --data DIR [--json]
  acqsim settlement (--admin ADDR | --data DIR) (--day YYYYMMDD | --from T --to T) [-o FILE]
  acqsim fault  --admin ADDR [--down] [--slow D] [--drop PCT] [--late D] [--duplicate] [--disconnect]

Run 'acqsim COMMAND -h' for a command's flags.
`
