package main

import (
	"context"
	"flag"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

type auditCommand struct {
	g   *globals
	now func() time.Time
}

func (c *auditCommand) Usage() string {
	return `usage: tillctl audit [--since T|D] [--actor NAME] [--action A] [--limit N] [--json]

The cluster's audit log: every operator action (membership, leader transfer,
cutover, batch close, reconciliation, snapshot, backup, ...) with who did it
(the name of the token used), what (the action and its key parameters),
when, from where, on which node, and its outcome: ok, error, refused (a
read-only token tried a write) or unknown (the action started but its
outcome was never recorded). Oldest first; any node answers, and the
read-only role may read it.

Flags:
  --since T|D    records from T (RFC 3339) or from D ago (24h, 30m)
  --actor NAME   one token's actions
  --action A     one action (member.add, day.cutover, backup, ...)
  --limit N      the newest N that match
  --json         JSON (same as -o json)
` + globalsUsage
}

func (c *auditCommand) Run(ctx context.Context, args []string) error {
	var since string
	var asJSON bool
	var q adminapi.AuditQuery
	pos, err := c.g.parse("audit", args, func(fs *flag.FlagSet) {
		fs.StringVar(&since, "since", "", "RFC 3339 time or duration ago")
		fs.StringVar(&q.Actor, "actor", "", "token name")
		fs.StringVar(&q.Action, "action", "", "action")
		fs.IntVar(&q.Limit, "limit", 0, "newest N")
		fs.BoolVar(&asJSON, "json", false, "JSON output")
	})
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("audit takes no arguments, got %q", strings.Join(pos, " "))
	}
	if q.Limit < 0 {
		return usagef("--limit %d: want a positive number", q.Limit)
	}
	if since != "" {
		if q.Since, err = c.parseSince(since); err != nil {
			return err
		}
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	var log adminapi.AuditLog
	if err := p.read(ctx, func(cl *adminapi.Client) (err error) { log, err = cl.Audit(ctx, q); return err }); err != nil {
		return err
	}
	if asJSON || c.g.output == "json" {
		return c.g.json(log)
	}
	rows := make([][]string, 0, len(log.Records))
	for _, r := range log.Records {
		var ps []string
		for _, p := range r.Params {
			ps = append(ps, p.Name+"="+p.Value)
		}
		outcome := r.Outcome
		if r.Status != 0 {
			outcome += " " + strconv.Itoa(r.Status)
		}
		rows = append(rows, []string{r.At.Format(time.RFC3339), r.Actor, r.Role, r.Action, orDash(strings.Join(ps, " ")),
			r.Node, r.Source, outcome, orDash(r.Error)})
	}
	return table(c.g.out, "TIME\tACTOR\tROLE\tACTION\tPARAMS\tNODE\tSOURCE\tOUTCOME\tERROR", rows)
}

// parseSince reads an RFC 3339 time or a duration before now.
func (c *auditCommand) parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, usagef("--since %q: want an RFC 3339 time (2026-12-03T12:00:00Z) or a duration ago (24h)", s)
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return now().Add(-d), nil
}
