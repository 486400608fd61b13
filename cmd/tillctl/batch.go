package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

type batchCommand struct{ g *globals }

func (c *batchCommand) Usage() string {
	return `usage: tillctl batch list --terminal T
       tillctl batch close --terminal T --batch N

A register's batch holds its transactions until its 0500 (batch totals)
closes it. list shows a terminal's batches, oldest first, the open one
last: our totals' net, the register's (from its last 0500), whether they
agree, the 0320 uploads received, and which totals differ.

close is the operator's resolution of a batch out of balance (the register
got 95 and cannot upload or close it): it closes the open batch N whatever
the totals, and the difference stays on record for the day's
reconciliation (batch_out_of_balance). N must be the open batch, so a
repeated close fails (409) instead of closing the next one. A write: it goes
to the leader.

Flags:
` + globalsUsage
}

func (c *batchCommand) Run(ctx context.Context, args []string) error {
	var terminal string
	var number uint64
	pos, err := c.g.parse("batch", args, func(fs *flag.FlagSet) {
		fs.StringVar(&terminal, "terminal", "", "terminal id (DE41)")
		fs.Uint64Var(&number, "batch", 0, "close: the open batch's number")
	})
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1 || (pos[0] != "list" && pos[0] != "close"):
		return usagef("want 'batch list --terminal T' or 'batch close --terminal T --batch N'")
	case terminal == "":
		return usagef("batch %s needs --terminal", pos[0])
	case pos[0] == "close" && number == 0:
		return usagef("batch close needs --batch N, the open batch's number (tillctl batch list --terminal %s)", terminal)
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	if pos[0] == "close" {
		return c.close(ctx, p, terminal, number)
	}
	var bs adminapi.Batches
	if err := p.read(ctx, func(cl *adminapi.Client) (err error) { bs, err = cl.Batches(ctx, terminal); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(bs)
	}
	return batchTable(c.g, bs.Batches)
}

func (c *batchCommand) close(ctx context.Context, p *pool, terminal string, number uint64) error {
	var b adminapi.Batch
	if err := p.write(ctx, func(cl *adminapi.Client) (err error) { b, err = cl.CloseBatch(ctx, terminal, number); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(b)
	}
	if err := batchTable(c.g, []adminapi.Batch{b}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(c.g.out, "batch %d of %s closed by the operator; batch %d is open. Any difference stays on record for the day's reconciliation.\n",
		b.Number, b.Terminal, b.Number+1)
	return err
}

func batchTable(g *globals, bs []adminapi.Batch) error {
	var rows [][]string
	for _, b := range bs {
		reg, diff := "-", "-"
		if b.HasRegister {
			reg, diff = money(b.Register.NetAmount), orDash(strings.Join(differing(b.Ours, b.Register), ","))
		}
		closed := "-"
		if b.ClosedAt != nil {
			closed = b.ClosedAt.Format(time.RFC3339)
		}
		rows = append(rows, []string{strconv.FormatUint(b.Number, 10), b.Status, strconv.FormatInt(b.Ours.DebitsCount, 10),
			strconv.FormatInt(b.Ours.CreditsCount, 10), money(b.Ours.NetAmount), reg, strconv.FormatBool(b.Balanced),
			strconv.FormatInt(b.Uploads, 10), diff, closed})
	}
	return table(g.out, "BATCH\tSTATUS\tDEBITS\tCREDITS\tNET\tREGISTER NET\tBALANCED\tUPLOADS\tDIFFERS\tCLOSED", rows)
}

// differing names the totals where the register's 0500 and ours differ,
// as the 0500's JSON names them.
func differing(ours, reg adminapi.BatchTotals) []string {
	pairs := []struct {
		name string
		a, b int64
	}{
		{"credits_count", ours.CreditsCount, reg.CreditsCount},
		{"credits_reversal_count", ours.CreditsReversalCount, reg.CreditsReversalCount},
		{"debits_count", ours.DebitsCount, reg.DebitsCount},
		{"debits_reversal_count", ours.DebitsReversalCount, reg.DebitsReversalCount},
		{"credits_amount", ours.CreditsAmount, reg.CreditsAmount},
		{"credits_reversal_amount", ours.CreditsReversalAmount, reg.CreditsReversalAmount},
		{"debits_amount", ours.DebitsAmount, reg.DebitsAmount},
		{"debits_reversal_amount", ours.DebitsReversalAmount, reg.DebitsReversalAmount},
		{"net_amount", ours.NetAmount, reg.NetAmount},
	}
	var out []string
	for _, p := range pairs {
		if p.a != p.b {
			out = append(out, p.name)
		}
	}
	return out
}
