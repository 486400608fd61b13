package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

type txCommand struct{ g *globals }

func (c *txCommand) Usage() string {
	return `usage: tillctl tx search [filters] [--limit N] [--cursor C | --all]
       tillctl tx show ID

search lists the transactions matching every filter given, oldest id first
within the index used. Filters: --terminal, --merchant, --day YYYYMMDD,
--status pending|approved|declined|unknown|reversed, --rc, --rrn,
--auth-code, --bin (a prefix), --last4, --acquirer, --min-amount and
--max-amount (minor units, inclusive), --from and --to (RFC 3339, creation
time, --to exclusive). One page per call: the next page's cursor goes to
stderr; --all follows the cursors to the end.

show prints one transaction; ID is terminal (8) + STAN (6) + DE7 (10).
Cards are only ever shown masked.

Flags:
` + globalsUsage
}

func (c *txCommand) Run(ctx context.Context, args []string) error {
	var q adminapi.TxnQuery
	var minAmt, maxAmt int64 = -1, -1
	var from, to string
	var all bool
	pos, err := c.g.parse("tx", args, func(fs *flag.FlagSet) {
		for name, p := range map[string]*string{"terminal": &q.Terminal, "merchant": &q.Merchant, "day": &q.Day,
			"status": &q.Status, "rc": &q.RC, "rrn": &q.RRN, "auth-code": &q.AuthCode, "bin": &q.BIN,
			"last4": &q.Last4, "acquirer": &q.Acquirer, "cursor": &q.Cursor} {
			fs.StringVar(p, name, "", "filter")
		}
		fs.Int64Var(&minAmt, "min-amount", -1, "minor units")
		fs.Int64Var(&maxAmt, "max-amount", -1, "minor units")
		fs.StringVar(&from, "from", "", "RFC 3339")
		fs.StringVar(&to, "to", "", "RFC 3339")
		fs.IntVar(&q.Limit, "limit", 0, "page size")
		fs.BoolVar(&all, "all", false, "follow the cursors")
	})
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 2 && pos[0] == "show":
		return c.show(ctx, pos[1])
	case len(pos) != 1 || pos[0] != "search":
		return usagef("want 'tx search [filters]' or 'tx show ID'")
	}
	if minAmt >= 0 {
		q.MinAmount = &minAmt
	}
	if maxAmt >= 0 {
		q.MaxAmount = &maxAmt
	}
	if q.From, err = parseTime("from", from); err != nil {
		return err
	}
	if q.To, err = parseTime("to", to); err != nil {
		return err
	}
	return c.search(ctx, q, all)
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, usagef("--%s %q: want RFC 3339, e.g. 2025-11-22T12:00:00Z", name, s)
	}
	return t, nil
}

func (c *txCommand) search(ctx context.Context, q adminapi.TxnQuery, all bool) error {
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	var out adminapi.TxnPage
	for {
		var page adminapi.TxnPage
		if err := p.read(ctx, func(cl *adminapi.Client) (err error) { page, err = cl.Txns(ctx, q); return err }); err != nil {
			return err
		}
		out.Txns = append(out.Txns, page.Txns...)
		out.NextCursor = page.NextCursor
		if !all || page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if out.Txns == nil {
		out.Txns = []adminapi.Txn{}
	}
	if c.g.output == "json" {
		return c.g.json(out)
	}
	var rows [][]string
	for _, t := range out.Txns {
		rows = append(rows, []string{t.ID, t.CreatedAt.Format(time.RFC3339), t.Terminal, t.Merchant, t.Type,
			money(t.Amount), t.Currency, t.PAN, t.Status, orDash(t.RC), orDash(t.AuthCode), orDash(t.RRN)})
	}
	if err := table(c.g.out, "ID\tCREATED\tTERMINAL\tMERCHANT\tTYPE\tAMOUNT\tCUR\tCARD\tSTATUS\tRC\tAUTH\tRRN", rows); err != nil {
		return err
	}
	if out.NextCursor != "" {
		fmt.Fprintf(stderrOf(c.g), "more: add --cursor %s (or --all)\n", out.NextCursor)
	}
	return nil
}

func (c *txCommand) show(ctx context.Context, id string) error {
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	var t adminapi.Txn
	if err := p.read(ctx, func(cl *adminapi.Client) (err error) { t, err = cl.Txn(ctx, id); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(t)
	}
	rows := [][]string{
		{"id", t.ID}, {"type", t.Type + " (MTI " + t.MTI + ", processing code " + t.ProcCode + ")"},
		{"amount", money(t.Amount) + " " + t.Currency}, {"terminal", t.Terminal}, {"merchant", t.Merchant},
		{"stan", t.STAN}, {"transmission", t.TransmissionTime}, {"card", t.PAN},
		{"status", t.Status}, {"rc", orDash(t.RC)}, {"auth code", orDash(t.AuthCode)}, {"stand-in", strconv.FormatBool(t.StandIn)},
		{"acquirer", orDash(t.Acquirer)}, {"acquirer stan", orDash(t.AcqSTAN)}, {"rrn", orDash(t.RRN)},
		{"original", orDash(t.OriginalID)}, {"business day", t.Day},
		{"created", t.CreatedAt.Format(time.RFC3339Nano)}, {"updated", t.UpdatedAt.Format(time.RFC3339Nano)},
	}
	return table(c.g.out, "FIELD\tVALUE", rows)
}
