package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
)

type schemaCommand struct{ g *globals }

func (c *schemaCommand) Usage() string {
	return `usage: tillctl schema
       tillctl schema upgrade [VERSION]

The replicated state's schema. status (the default) shows the answering
node's state file schema and the versions its binary knows.

upgrade converts the state to VERSION (default ` + store.SchemaLean + `, the lean layout:
fewer index writes per transaction) through the log, so every node converts
at the same entry. Upgrade every node's binary first: the leader asks every
voter whether its binary knows the version and refuses otherwise (a node
that did not would keep writing the old layout). A converted state file
does not open in an older binary. Converting twice changes nothing.

Writes go to the leader.

Flags:
` + globalsUsage
}

func (c *schemaCommand) Run(ctx context.Context, args []string) error {
	pos, err := c.g.parse("schema", args, nil)
	if err != nil {
		return err
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	var st adminapi.Schema
	switch {
	case len(pos) == 0 || (pos[0] == "status" && len(pos) == 1):
		err = p.read(ctx, func(cl *adminapi.Client) (err error) { st, err = cl.Schema(ctx); return err })
	case pos[0] == "upgrade" && len(pos) <= 2:
		version := store.SchemaLean
		if len(pos) == 2 {
			version = pos[1]
		}
		err = p.write(ctx, func(cl *adminapi.Client) (err error) { st, err = cl.UpgradeSchema(ctx, version); return err })
	default:
		return usagef("want 'schema' or 'schema upgrade [VERSION]'")
	}
	if err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(st)
	}
	_, err = fmt.Fprintf(c.g.out, "schema %s (node %s; its binary knows %s)\n", st.Current, st.Node, strings.Join(st.Known, ", "))
	return err
}
