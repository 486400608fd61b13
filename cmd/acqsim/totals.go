package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/tillgate/tillgate/acquirer/sim"
)

type totalsCommand struct {
	out io.Writer
}

func (c *totalsCommand) Usage() string {
	return `usage: acqsim totals --data DIR [--json]

Prints the simulator's ledger DIR/sim.db by UTC day and kind: approvals,
approvals reversed (on the day of the reversal) and net, in minor units,
then the net over all days. Opens the ledger read-only; a running server
holds it locked, so ask its admin API (GET /totals/days) instead.

`
}

func (c *totalsCommand) Run(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("totals", flag.ContinueOnError)
	dataDir := fs.String("data", "", "data directory (required)")
	asJSON := fs.Bool("json", false, "print the days as JSON")
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir == "" || fs.NArg() > 0 {
		return errUsage
	}
	l, err := sim.OpenLedger(*dataDir, true)
	if err != nil {
		return err
	}
	defer l.Close()
	days, err := l.TotalsByDay()
	if err != nil {
		return err
	}
	tot, err := l.Totals()
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(days)
	}
	return printTotals(c.out, days, tot)
}

// printTotals writes one row per day and kind, then the net of all days.
func printTotals(out io.Writer, days map[string]sim.DayTotals, tot sim.Totals) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tKIND\tAPPROVED\tAMOUNT\tREVERSED\tAMOUNT\tNET\tAMOUNT")
	for _, day := range sortedKeys(days) {
		d := days[day]
		for _, kind := range sortedKeys(d.Net) {
			a, r, n := d.Approved[kind], d.Reversed[kind], d.Net[kind]
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", day, kind, a.Count, a.Amount, r.Count, r.Amount, n.Count, n.Amount)
		}
	}
	for _, kind := range sortedKeys(tot.Net) {
		n := tot.Net[kind]
		fmt.Fprintf(tw, "all\t%s\t\t\t\t\t%d\t%d\n", kind, n.Count, n.Amount)
	}
	return tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
