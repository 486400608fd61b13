package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tillgate/tillgate/node/adminapi"
)

type membersCommand struct{ g *globals }

func (c *membersCommand) Usage() string {
	return `usage: tillctl members list
       tillctl members add ID RAFT_ADDR
       tillctl members remove ID
       tillctl members transfer

list shows the Raft configuration. add makes a new node (started with the
same peers list but without bootstrap) a voter; remove takes a node out;
transfer hands leadership to another voter. Changes go to the leader: an
endpoint that is not the leader names it and tillctl retries there, if the
leader's admin address is among the endpoints.

Flags:
` + globalsUsage
}

func (c *membersCommand) Run(ctx context.Context, args []string) error {
	pos, err := c.g.parse("members", args, nil)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want list, add, remove or transfer")
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	var m adminapi.Members
	switch verb, rest := pos[0], pos[1:]; {
	case verb == "list" && len(rest) == 0:
		err = p.read(ctx, func(cl *adminapi.Client) (err error) { m, err = cl.Members(ctx); return err })
	case verb == "add" && len(rest) == 2:
		err = p.write(ctx, func(cl *adminapi.Client) (err error) { m, err = cl.AddMember(ctx, rest[0], rest[1]); return err })
	case verb == "remove" && len(rest) == 1:
		err = p.write(ctx, func(cl *adminapi.Client) (err error) { m, err = cl.RemoveMember(ctx, rest[0]); return err })
	case verb == "transfer" && len(rest) == 0:
		return c.transfer(ctx, p)
	default:
		return usagef("members %v: wrong command or number of arguments", pos)
	}
	if err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(m)
	}
	var rows [][]string
	for _, x := range m.Members {
		rows = append(rows, []string{x.ID, x.RaftAddr, x.Suffrage, strconv.FormatBool(x.Leader)})
	}
	return table(c.g.out, "ID\tRAFT ADDR\tSUFFRAGE\tLEADER", rows)
}

func (c *membersCommand) transfer(ctx context.Context, p *pool) error {
	var t adminapi.Transfer
	if err := p.write(ctx, func(cl *adminapi.Client) (err error) { t, err = cl.TransferLeader(ctx); return err }); err != nil {
		return err
	}
	if c.g.output == "json" {
		return c.g.json(t)
	}
	_, err := fmt.Fprintf(c.g.out, "leadership moved from %s to %s\n", t.From, orDash(t.LeaderID))
	return err
}
