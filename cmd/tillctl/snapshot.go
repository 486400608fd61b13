package main

import (
	"context"
	"fmt"

	"github.com/tillgate/tillgate/node/adminapi"
)

type snapshotCommand struct{ g *globals }

func (c *snapshotCommand) Usage() string {
	return `usage: tillctl snapshot

Makes the first endpoint that answers take a Raft snapshot now and compact
its log behind it (nodes also do this on their own every snapshot_threshold
entries). This is not a backup: use 'tillctl backup' for a copy to keep.

Flags:
` + globalsUsage
}

func (c *snapshotCommand) Run(ctx context.Context, args []string) error {
	pos, err := c.g.parse("snapshot", args, nil)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	var s adminapi.Snapshot
	if err := p.read(ctx, func(cl *adminapi.Client) (err error) { s, err = cl.Snapshot(ctx); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(s)
	}
	note := ""
	if !s.Fresh {
		note = " (nothing new since the previous one)"
	}
	_, err = fmt.Fprintf(c.g.out, "%s: snapshot at index %d%s\n", s.ID, s.Index, note)
	return err
}
