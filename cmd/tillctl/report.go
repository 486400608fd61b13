package main

import (
	"context"
	"flag"
	"strconv"

	"github.com/tillgate/tillgate/node/adminapi"
)

type reportCommand struct{ g *globals }

func (c *reportCommand) Usage() string {
	return `usage: tillctl report daily [--day YYYYMMDD] [--type T]
       tillctl report --by day|merchant|terminal|acquirer|rc|hour [--day YYYYMMDD] [--type T]

Counts and amounts per group: all transactions, then approved, declined and
reversed ones (pending and unknown ones are only in the total). --day limits
to one business day, --type to one kind (purchase, refund, cashback,
balance, preauth, completion). Hours are UTC. Amounts are the requested
amounts, whatever the type.

Flags:
` + globalsUsage
}

func (c *reportCommand) Run(ctx context.Context, args []string) error {
	var q adminapi.ReportQuery
	pos, err := c.g.parse("report", args, func(fs *flag.FlagSet) {
		fs.StringVar(&q.By, "by", "", "grouping")
		fs.StringVar(&q.Day, "day", "", "business day YYYYMMDD")
		fs.StringVar(&q.Type, "type", "", "transaction type")
	})
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && pos[0] == "daily" && (q.By == "" || q.By == adminapi.ByDay):
		q.By = adminapi.ByDay
	case len(pos) == 0 && q.By != "":
	default:
		return usagef("want 'report daily' or 'report --by GROUPING'")
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	var r adminapi.Report
	if err := p.read(ctx, func(cl *adminapi.Client) (err error) { r, err = cl.Report(ctx, q); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(r)
	}
	n := func(s adminapi.Sum) string { return strconv.FormatInt(s.Count, 10) }
	var rows [][]string
	for _, x := range r.Rows {
		rows = append(rows, []string{x.Key, n(x.Total), money(x.Total.Amount), n(x.Approved), money(x.Approved.Amount),
			n(x.Declined), money(x.Declined.Amount), n(x.Reversed), money(x.Reversed.Amount)})
	}
	return table(c.g.out, "KEY\tCOUNT\tAMOUNT\tAPPROVED\tAPPROVED AMT\tDECLINED\tDECLINED AMT\tREVERSED\tREVERSED AMT", rows)
}
