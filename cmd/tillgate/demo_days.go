package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/store"
)

// reconcileMargin widens the simulator's export window on both sides of
// the day: a request committed just before the cutover reaches the
// acquirer just after it. Rows of the neighbouring days that the margin
// takes in are matched to their own day, not counted as discrepancies.
const reconcileMargin = 5 * time.Second

// closeDays cuts the demo's business day over every period, then prints
// each closed day's file and its reconciliation with the simulator.
func closeDays(ctx context.Context, cl *localcluster.Cluster, acq *sim.Sim, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if line := closeDay(ctx, cl, acq); line != "" && ctx.Err() == nil {
			fmt.Printf("\r%-110s\n", line)
		}
	}
}

// closeDay does one cutover, settlement and reconciliation on the leader.
func closeDay(ctx context.Context, cl *localcluster.Cluster, acq *sim.Sim) string {
	i := cl.Leader()
	if i < 0 {
		return "cutover: no leader"
	}
	n := cl.Nodes[i]
	opened, err := n.Cutover(ctx, "")
	if err != nil {
		return "cutover: " + err.Error()
	}
	var d *store.Day
	for d == nil || d.Status != store.DaySettled || len(d.Files) == 0 {
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(200 * time.Millisecond):
		}
		days, err := n.Store().Days()
		if err != nil {
			return "days: " + err.Error()
		}
		for _, x := range days {
			if x.Day < opened.Day && x.ClosedAt == opened.OpenedAt {
				d = x
			}
		}
	}
	select {
	case <-ctx.Done():
		return ""
	case <-time.After(reconcileMargin):
	}
	from, to := time.Unix(0, d.OpenedAt).Add(-reconcileMargin), time.Unix(0, d.ClosedAt).Add(reconcileMargin)
	rows, err := acq.Settlement(from, to)
	if err != nil {
		return "acquirer export: " + err.Error()
	}
	var file bytes.Buffer
	if err := sim.WriteSettlementCSV(&file, rows, from, to); err != nil {
		return "acquirer export: " + err.Error()
	}
	f := d.Files[0]
	// Matching runs on a standby, the outcome is recorded by the active.
	res, err := cl.Nodes[(i+1)%len(cl.Nodes)].Reconcile(ctx, d.Day, f.Acquirer, file.Bytes())
	if err != nil {
		return "reconcile: " + err.Error()
	}
	if err := n.RecordReconciliation(ctx, d.Day, res.Recon); err != nil {
		return "record the reconciliation: " + err.Error()
	}
	verdict := "reconciled"
	if !res.Recon.Reconciled {
		verdict = fmt.Sprintf("NOT reconciled (%d discrepancies, see tillctl day show %s)", res.Recon.Discrepancies, d.Day)
	}
	return fmt.Sprintf("day %s closed: %d rows, net %d, file sha256 %.12s..., %s", d.Day, f.Rows, f.Net, f.CSVSHA256, verdict)
}
