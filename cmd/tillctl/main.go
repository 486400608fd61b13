// Command tillctl is the operator's CLI over the admin HTTP API of tillgate
// nodes (package node/adminapi): cluster status, membership, Raft snapshots,
// backups, transaction search and reports, business days (cutover,
// settlement files, reconciliation), register batches, the terminal
// registry and the audit log. It fails over between the
// endpoints it is given and sends writes to the leader.
package main

import (
	"context"
	"fmt"
	"github.com/tillgate/tillgate/internal/cli"
	"io"
	"os"
)

// errUsage makes main print the command's usage and exit 2.
var errUsage = cli.ErrUsage

func usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

func commands(out io.Writer) map[string]cli.Command {
	g := func() *globals { return &globals{out: out} }
	return map[string]cli.Command{
		"status":   &statusCommand{g: g()},
		"members":  &membersCommand{g: g()},
		"tx":       &txCommand{g: g()},
		"report":   &reportCommand{g: g()},
		"snapshot": &snapshotCommand{g: g()},
		"backup":   &backupCommand{g: g()},
		"day":      &dayCommand{g: g()},
		"batch":    &batchCommand{g: g()},
		"terminal": &terminalCommand{g: g()},
		"key":      &keyCommand{g: g()},
		"schema":   &schemaCommand{g: g()},
		"audit":    &auditCommand{g: g()},
		"merchant": &merchantCommand{g: g()},
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code (0 ok, 1
// error, 2 usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands(stdout)
	return cli.Main(ctx, "tillctl", usage, cmds, commandFirst(args, cmds), stderr)
}

// commandFirst moves the command name to the front, so that global flags
// may come before it as with etcdctl (tillctl --endpoints A,B status).
func commandFirst[C any](args []string, cmds map[string]C) []string {
	for i, a := range args {
		if _, ok := cmds[a]; ok && i > 0 {
			out := append([]string{a}, args[:i]...)
			return append(out, args[i+1:]...)
		}
		if _, ok := cmds[a]; ok {
			return args
		}
	}
	return args
}

const usage = `tillctl operates a tillgate cluster through the nodes' admin API.

Usage:
  tillctl status                               every endpoint's view: role, term, indexes, lag
  tillctl members list|add ID RAFT_ADDR|remove ID|transfer
  tillctl tx search [--terminal T] [--merchant M] [--day YYYYMMDD] [--status S] [--rc RC]
                    [--rrn R] [--auth-code A] [--bin B] [--last4 L] [--acquirer A]
                    [--min-amount N] [--max-amount N] [--from T] [--to T] [--limit N] [--all]
  tillctl tx show ID
  tillctl report daily [--day YYYYMMDD]        totals by business day
  tillctl report --by day|merchant|terminal|acquirer|rc|hour [--day YYYYMMDD] [--type T]
  tillctl snapshot                             take a Raft snapshot now
  tillctl backup [--out FILE] > FILE           stream a consistent copy of the state
  tillctl day list|show DAY                    business days, their files' checksums, reconciliations
  tillctl day cutover [--day DAY]              close the open business day now
  tillctl day file DAY --acquirer A [--format csv|json] [--out FILE|-]
                                               fetch a settlement file, checked against the log
  tillctl day reconcile DAY --acquirer A --file ACQUIRER.csv
                                               reconcile with the acquirer's file (exit 1: not reconciled)
  tillctl batch list --terminal T              a register's batches and their totals
  tillctl batch close --terminal T --batch N   close a batch out of balance (operator resolution)
  tillctl terminal list [--store S] [--merchant M] [--all]   the terminal registry
  tillctl terminal add ID|FROM-TO --merchant M --store S     register terminals (a range in one command)
  tillctl terminal block|unblock ID|FROM-TO                  refuse (or admit again) a terminal's requests
  tillctl key status                           which card key seals, records per key, the re-seal
  tillctl key rotate ID | retire ID            make card key ID seal (every node holds ID.key) / retire one
  tillctl schema [upgrade [VERSION]]           the state file's schema / convert it (every node upgraded first)
  tillctl audit [--since T|D] [--actor A] [--action X] [--limit N] [--json]
                                               the audit log of operator actions
  tillctl merchant add ID [--name N] [--key-name N] [--key K]
                                               a card-not-present merchant and its API key
  tillctl merchant list                        merchants, their virtual terminals and keys' names

Every command takes:
` + globalsUsage + `
Exit codes: 0 ok, 1 error (and day reconcile: not reconciled), 2 usage. Run 'tillctl COMMAND -h' for a command's flags.
`
