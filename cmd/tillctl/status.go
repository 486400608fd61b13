package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

type statusCommand struct{ g *globals }

func (c *statusCommand) Usage() string {
	return `usage: tillctl status [flags]

Asks every endpoint for its view: id, role, term, leader, log indexes and
whether it serves registers. APPLIED is the state machine's index (Raft's
own no-op and configuration entries do not reach it, so it trails COMMIT
by a few). LAG is how many log entries the node's log is behind the
leader's, when the leader is among the endpoints (Raft reports no per-peer
progress; see adminapi.Status). Below the table, the store-and-forward
queue per acquirer (advices and reversals owed: depth and the oldest
entry's age), as the leader sees it (else the first endpoint that
answered); the queue is replicated, so any node knows it. Exits 1 if any
endpoint fails.

Flags:
` + globalsUsage
}

// endpointStatus is one row: the status or why there is none.
type endpointStatus struct {
	Endpoint string           `json:"endpoint"`
	Status   *adminapi.Status `json:"status,omitempty"`
	Error    string           `json:"error,omitempty"`
}

func (c *statusCommand) Run(ctx context.Context, args []string) error {
	pos, err := c.g.parse("status", args, nil)
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
	var rows []endpointStatus
	var failed []string
	for _, cl := range p.clients {
		st, err := cl.Status(ctx)
		r := endpointStatus{Endpoint: cl.Base}
		if err != nil {
			r.Error, failed = err.Error(), append(failed, err.Error())
		} else {
			r.Status = &st
		}
		rows = append(rows, r)
	}
	if c.g.output == "json" {
		err = c.g.json(rows)
	} else {
		err = table(c.g.out, "ENDPOINT\tID\tROLE\tTERM\tLEADER\tAPPLIED\tCOMMIT\tLAST\tSNAPSHOT\tLAG\tSERVING", statusRows(rows))
		if err == nil {
			err = writeSAF(c.g.out, rows, time.Now())
		}
	}
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d endpoints failed:\n  %s", len(failed), len(rows), strings.Join(failed, "\n  "))
	}
	return nil
}

func statusRows(rows []endpointStatus) [][]string {
	var leaderLast uint64
	haveLeader := false
	for _, r := range rows {
		if r.Status != nil && r.Status.Role == "leader" {
			leaderLast, haveLeader = r.Status.LastIndex, true
		}
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	var out [][]string
	for _, r := range rows {
		st := r.Status
		if st == nil {
			out = append(out, []string{r.Endpoint, "-", "unreachable", "-", "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		lag := "-"
		if haveLeader {
			lag = "0"
			if leaderLast > st.LastIndex {
				lag = u(leaderLast - st.LastIndex)
			}
		}
		out = append(out, []string{r.Endpoint, st.ID, st.Role, u(st.Term), orDash(st.LeaderID),
			u(st.AppliedIndex), u(st.CommitIndex), u(st.LastIndex), u(st.LastSnapshotIndex), lag, strconv.FormatBool(st.Serving)})
	}
	return out
}

// writeSAF prints the store-and-forward queues as one node sees them: the
// leader if it answered, else the first endpoint that did.
func writeSAF(out io.Writer, rows []endpointStatus, now time.Time) error {
	var from *adminapi.Status
	for _, r := range rows {
		if r.Status != nil && (from == nil || r.Status.Role == "leader" && from.Role != "leader") {
			from = r.Status
		}
	}
	if from == nil {
		return nil
	}
	if len(from.SAF) == 0 {
		_, err := fmt.Fprintf(out, "\nstore-and-forward (as %s sees it): nothing owed\n", from.ID)
		return err
	}
	fmt.Fprintf(out, "\nstore-and-forward (as %s sees it):\n", from.ID)
	var saf [][]string
	for _, q := range from.SAF {
		saf = append(saf, []string{q.Acquirer, strconv.Itoa(q.Depth), now.Sub(q.Oldest).Round(time.Second).String(), q.Oldest.UTC().Format(time.RFC3339)})
	}
	return table(out, "ACQUIRER\tDEPTH\tOLDEST AGE\tOLDEST QUEUED", saf)
}
