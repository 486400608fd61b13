package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/node/adminapi"
)

// reconcileMargin widens the simulator's export window on both sides of
// the day: a request committed just before the cutover reaches the
// acquirer just after it.
const reconcileMargin = 5 * time.Second

// closeDays cuts the demo's business day over every period through the
// nodes' admin APIs, as an operator would, then prints each closed day's
// file and its reconciliation with the simulator.
func closeDays(ctx context.Context, nodes []*adminapi.Client, acq *sim.Sim, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if line := closeDay(ctx, nodes, acq); ctx.Err() == nil {
			fmt.Printf("\r%-110s\n", line)
		}
	}
}

// closeDay closes one day and says how it went in one line.
func closeDay(ctx context.Context, nodes []*adminapi.Client, acq *sim.Sim) string {
	// Bounded, so that a day that does not settle says so instead of
	// silencing the closes after it.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	closed, err := adminapi.CloseDay(ctx, nodes, adminapi.DayCloseOptions{
		Before: reconcileMargin, After: reconcileMargin,
		Export: func(_ context.Context, _ string, from, to time.Time) ([]byte, error) {
			return simSettlement(acq, from, to)
		},
	})
	if err != nil {
		return err.Error()
	}
	f := closed.Files[0]
	if f.Err != nil {
		return f.Err.Error()
	}
	d, r := closed.Day, f.Recon
	verdict := "reconciled"
	if !r.Reconciled {
		verdict = fmt.Sprintf("NOT reconciled (%d discrepancies, see tillctl day show %s)", r.Discrepancies, d.Day)
	}
	return fmt.Sprintf("day %s closed: %d rows, net %d, file sha256 %.12s..., %s", d.Day, f.File.Rows, f.File.Net, f.File.CSVSHA256, verdict)
}

// simSettlement is the simulator's settlement CSV of [from, to].
func simSettlement(acq *sim.Sim, from, to time.Time) ([]byte, error) {
	rows, err := acq.Settlement(from, to)
	if err != nil {
		return nil, fmt.Errorf("acquirer export: %w", err)
	}
	var file bytes.Buffer
	if err := sim.WriteSettlementCSV(&file, rows, from, to); err != nil {
		return nil, fmt.Errorf("acquirer export: %w", err)
	}
	return file.Bytes(), nil
}
