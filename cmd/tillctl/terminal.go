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

type terminalCommand struct{ g *globals }

func (c *terminalCommand) Usage() string {
	return `usage: tillctl terminal list [--store S] [--merchant M] [--limit N] [--after ID] [--all]
       tillctl terminal add ID|FROM-TO --merchant M --store S
       tillctl terminal block ID|FROM-TO
       tillctl terminal unblock ID|FROM-TO

The terminal registry: a node answers 58 to a request from a terminal
(DE41) that is not registered, is blocked, or whose store is not the one
its client certificate names, and 03 to one whose DE42 is not the
terminal's merchant. A blocked terminal's reversals are still taken.

add registers a terminal, or a range of them in one command (T0000001-
T0002000: one prefix, a numeric tail of the same length, at most 20,000),
for merchant M (DE42, 15 characters) and store S (the client certificate's
common name). Adding what is registered as it is changes nothing; another
merchant or store changes it (a block stays). block and unblock take one
terminal or a range. Writes: they go to the leader.

Flags:
` + globalsUsage
}

func (c *terminalCommand) Run(ctx context.Context, args []string) error {
	var merchant, storeID, after string
	var limit int
	var all bool
	pos, err := c.g.parse("terminal", args, func(fs *flag.FlagSet) {
		fs.StringVar(&merchant, "merchant", "", "add: the merchant (DE42); list: only this merchant's")
		fs.StringVar(&storeID, "store", "", "add: the store; list: only this store's")
		fs.StringVar(&after, "after", "", "list: start after this terminal id (the cursor of the previous page)")
		fs.IntVar(&limit, "limit", 0, "list: at most N terminals (default: one page of 1000)")
		fs.BoolVar(&all, "all", false, "list: every page")
	})
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want 'terminal list|add|block|unblock'")
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	switch verb := pos[0]; {
	case verb == "list" && len(pos) == 1:
		return c.list(ctx, p, adminapi.TerminalQuery{After: after, Store: storeID, Merchant: merchant, Limit: limit}, all)
	case verb == "add" && len(pos) == 2:
		if merchant == "" || storeID == "" {
			return usagef("terminal add needs --merchant M and --store S")
		}
		from, to := splitRange(pos[1])
		return c.change(ctx, p, "added", func(cl *adminapi.Client) (adminapi.TerminalChange, error) {
			return cl.AddTerminals(ctx, adminapi.TerminalRange{From: from, To: to, Merchant: merchant, Store: storeID})
		})
	case (verb == "block" || verb == "unblock") && len(pos) == 2:
		from, to := splitRange(pos[1])
		return c.change(ctx, p, verb+"ed", func(cl *adminapi.Client) (adminapi.TerminalChange, error) {
			return cl.BlockTerminals(ctx, from, to, verb == "block")
		})
	}
	return usagef("want 'terminal list', 'terminal add ID|FROM-TO --merchant M --store S', 'terminal block ID|FROM-TO' or 'terminal unblock ID|FROM-TO'")
}

// splitRange reads ID or FROM-TO. Terminal ids may hold a '-' themselves:
// a range is two 8-character ids around one.
func splitRange(s string) (from, to string) {
	if len(s) == 17 && s[8] == '-' {
		return s[:8], s[9:]
	}
	return s, ""
}

func (c *terminalCommand) list(ctx context.Context, p *pool, q adminapi.TerminalQuery, all bool) error {
	var out []adminapi.Terminal
	next := ""
	for {
		var page adminapi.Terminals
		if err := p.read(ctx, func(cl *adminapi.Client) (err error) { page, err = cl.Terminals(ctx, q); return err }); err != nil {
			return err
		}
		out, next = append(out, page.Terminals...), page.Next
		if !all || next == "" {
			break
		}
		q.After = next
	}
	if c.g.output == "json" {
		return c.g.json(adminapi.Terminals{Terminals: out, Next: next})
	}
	var rows [][]string
	for _, t := range out {
		rows = append(rows, []string{t.ID, t.Merchant, t.Store, strconv.FormatBool(t.Blocked), t.Added.Format(time.RFC3339), t.Changed.Format(time.RFC3339)})
	}
	if err := table(c.g.out, "TERMINAL\tMERCHANT\tSTORE\tBLOCKED\tADDED\tCHANGED", rows); err != nil {
		return err
	}
	if next != "" {
		_, err := fmt.Fprintf(c.g.out, "more: tillctl terminal list --after %s (or --all)\n", next)
		return err
	}
	return nil
}

func (c *terminalCommand) change(ctx context.Context, p *pool, what string, fn func(*adminapi.Client) (adminapi.TerminalChange, error)) error {
	var ch adminapi.TerminalChange
	if err := p.write(ctx, func(cl *adminapi.Client) (err error) { ch, err = fn(cl); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(ch)
	}
	parts := []string{fmt.Sprintf("%d added", ch.Added), fmt.Sprintf("%d changed", ch.Changed), fmt.Sprintf("%d unchanged", ch.Unchanged)}
	_, err := fmt.Fprintf(c.g.out, "terminals %s: %s\n", what, strings.Join(parts, ", "))
	return err
}
