package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

type dayCommand struct{ g *globals }

func (c *dayCommand) Usage() string {
	return `usage: tillctl day list
       tillctl day show DAY
       tillctl day cutover [--day DAY]
       tillctl day file DAY --acquirer A [--format csv|json] [--out FILE|-]
       tillctl day reconcile DAY --acquirer A --file ACQUIRER.csv

Business days (YYYYMMDD) go open -> closing (cut over, waiting for its
pending transactions) -> settled (frozen; its settlement files exist).

list shows every day with who closed it, how many settlement files the log
records and the latest reconciliation per acquirer. show prints one day:
its cutover and settle indexes, each file's rows, net and SHA-256, each
reconciliation, and the window to export from acqsim.

cutover closes the open day now and opens the next (a write: it goes to
the leader). Without --day tillctl first reads the open day and names it,
so that a retry can never close the following day too. A 409 means the
day named is not open any more: someone (or the schedule) cut it over.

file fetches a settled day's settlement file of an acquirer from any node,
checks its SHA-256 against the checksum the log records, and writes it to
--out (default DAY-ACQUIRER.FORMAT here; "-" for stdout). A mismatch
writes nothing and exits 1.

reconcile uploads the acquirer's settlement file of the day (acqsim
settlement's CSV), prints the report (-o json: the report as JSON) and
records the outcome in the log. Exit code 0: reconciled; 1: not reconciled
(the report lists the discrepancies) or an error.

Flags:
` + globalsUsage
}

// dayFlags are the flags of every day verb; each verb checks the ones it
// needs.
type dayFlags struct {
	day, acquirer, format, out, file string
}

func (c *dayCommand) Run(ctx context.Context, args []string) error {
	var f dayFlags
	pos, err := c.g.parse("day", args, func(fs *flag.FlagSet) {
		fs.StringVar(&f.day, "day", "", "cutover: the open day, YYYYMMDD")
		fs.StringVar(&f.acquirer, "acquirer", "", "acquirer name")
		fs.StringVar(&f.format, "format", "csv", "file: csv or json")
		fs.StringVar(&f.out, "out", "", "file: where to write it")
		fs.StringVar(&f.file, "file", "", "reconcile: the acquirer's CSV")
	})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want list, show, cutover, file or reconcile")
	}
	verb, rest := pos[0], pos[1:]
	if err := checkDayArgs(verb, rest, f); err != nil {
		return err
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	switch verb {
	case "list":
		return c.list(ctx, p)
	case "show":
		return c.show(ctx, p, rest[0])
	case "cutover":
		return c.cutover(ctx, p, f.day)
	case "file":
		return c.fetchFile(ctx, p, rest[0], f)
	default:
		return c.reconcile(ctx, p, rest[0], f)
	}
}

// checkDayArgs refuses a verb with the wrong arguments before anything is
// sent.
func checkDayArgs(verb string, rest []string, f dayFlags) error {
	want := map[string]int{"list": 0, "show": 1, "cutover": 0, "file": 1, "reconcile": 1}
	n, ok := want[verb]
	switch {
	case !ok:
		return usagef("unknown verb %q: want list, show, cutover, file or reconcile", verb)
	case len(rest) != n && n == 0:
		return usagef("day %s takes no argument (got %q)", verb, rest)
	case len(rest) != n:
		return usagef("day %s needs one DAY (YYYYMMDD)", verb)
	}
	for _, d := range []string{f.day, firstNonEmpty(rest...)} {
		if _, err := time.Parse("20060102", d); d != "" && err != nil {
			return usagef("day %q: want YYYYMMDD", d)
		}
	}
	switch {
	case (verb == "file" || verb == "reconcile") && f.acquirer == "":
		return usagef("day %s needs --acquirer (the names are in tillctl day show %s)", verb, rest[0])
	case verb == "file" && f.format != "csv" && f.format != "json":
		return usagef("--format %q: want csv or json", f.format)
	case verb == "reconcile" && f.file == "":
		return usagef("day reconcile needs --file, the acquirer's settlement CSV (acqsim settlement ... -o FILE)")
	}
	return nil
}

func (c *dayCommand) list(ctx context.Context, p *pool) error {
	var d adminapi.Days
	if err := p.read(ctx, func(cl *adminapi.Client) (err error) { d, err = cl.Days(ctx); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(d)
	}
	var rows [][]string
	for _, x := range d.Days {
		closed := "-"
		if x.ClosedAt != nil {
			closed = x.ClosedAt.Format(time.RFC3339)
		}
		rows = append(rows, []string{x.Day, x.Status, x.OpenedAt.Format(time.RFC3339), closed, orDash(x.ClosedBy),
			strconv.Itoa(len(x.Files)), reconciledSummary(x.Reconciliations)})
	}
	return table(c.g.out, "DAY\tSTATUS\tOPENED\tCLOSED\tBY\tFILES\tRECONCILED", rows)
}

// reconciledSummary is "acq1=yes,acq2=no(3)": per acquirer, the latest
// outcome and its blocking discrepancies.
func reconciledSummary(rs []adminapi.Reconciliation) string {
	var parts []string
	for _, r := range rs {
		s := r.Acquirer + "=yes"
		if !r.Reconciled {
			s = fmt.Sprintf("%s=no(%d)", r.Acquirer, r.Discrepancies)
		}
		parts = append(parts, s)
	}
	return orDash(strings.Join(parts, ","))
}

func (c *dayCommand) show(ctx context.Context, p *pool, day string) error {
	var d adminapi.Day
	if err := p.read(ctx, func(cl *adminapi.Client) (err error) { d, err = cl.Day(ctx, day); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(d)
	}
	return writeDay(c.g, d)
}

func (c *dayCommand) cutover(ctx context.Context, p *pool, day string) error {
	if day == "" {
		var d adminapi.Days
		if err := p.read(ctx, func(cl *adminapi.Client) (err error) { d, err = cl.Days(ctx); return err }); err != nil {
			return fmt.Errorf("reading the open day: %w", err)
		}
		if d.Open == "" {
			return errors.New("there is no open business day yet (it opens with the first transaction); nothing to cut over")
		}
		day = d.Open
	}
	var r adminapi.CutoverResult
	err := p.write(ctx, func(cl *adminapi.Client) (err error) { r, err = cl.Cutover(ctx, day); return err })
	var ae *adminapi.APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusConflict {
		return fmt.Errorf("%w\nnothing changed: day %s is not open any more, so it was cut over already (by the schedule or another operator);\n"+
			"tillctl day list shows the open day; to close that one too, run tillctl day cutover --day <open day>", err, day)
	}
	if err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(r)
	}
	_, err = fmt.Fprintf(c.g.out, "closed %s, opened %s\n%s settles once none of its transactions is pending; follow it with tillctl day show %s\n",
		r.Closed, r.Opened, r.Closed, r.Closed)
	return err
}
