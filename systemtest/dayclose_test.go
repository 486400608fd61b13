package systemtest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/internal/regsim"
	"github.com/tillgate/tillgate/node/adminapi"
)

// exportCall is one call of CloseDay's Export.
type exportCall struct {
	acquirer string
	from, to time.Time
}

// TestCloseDay runs adminapi.CloseDay, the demo's and tillbench's day
// close, against 3 nodes listed with the leader last (the cutover and the
// record go round the NotLeader refusals): the day settles, its file is
// reconciled with the simulator's export of the widened window, and every
// node holds the outcome. A failing export is reported for its file and
// leaves the day closed; no reachable node is a cutover error.
func TestCloseDay(t *testing.T) {
	e := mustStart(t)
	ctx, cancel := withTimeout(3 * time.Minute)
	defer cancel()
	results := regsim.New(e.fleetConfig(20, 10)).Run(ctx)
	if e.checkInvariants(results) == 0 {
		t.Fatal("no approvals: nothing to settle")
	}
	leader := e.cl.Leader()
	var nodes []*adminapi.Client
	for i, c := range e.admins() {
		if i != leader {
			nodes = append(nodes, c)
		}
	}
	nodes = append(nodes, e.admins()[leader])
	open := daysOf(t, nodes[0]).Open

	var mu sync.Mutex
	var calls []exportCall
	export := func(ctx context.Context, acquirer string, from, to time.Time) ([]byte, error) {
		mu.Lock()
		calls = append(calls, exportCall{acquirer, from, to})
		mu.Unlock()
		return acqsimExport(e.sim)(ctx, acquirer, from, to)
	}
	o := adminapi.DayCloseOptions{Export: export, Before: time.Minute, After: time.Second, Poll: 50 * time.Millisecond}
	closed, err := adminapi.CloseDay(ctx, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	d := closed.Day
	if closed.Cutover.Closed != open || d.Day != open || d.Status != "settled" || len(closed.Files) != 1 || d.ClosedAt == nil {
		t.Fatalf("closed %+v, want day %s settled with one file", closed, open)
	}
	f := closed.Files[0]
	if f.Err != nil || f.Recon == nil || !f.Recon.Reconciled || !f.Recon.Recorded || f.Recon.Discrepancies != 0 || f.File.Rows == 0 {
		t.Fatalf("file %+v (recon %+v): want reconciled and recorded", f, f.Recon)
	}
	want := exportCall{f.File.Acquirer, d.OpenedAt.Add(-time.Minute), d.ClosedAt.Add(time.Second)}
	if len(calls) != 1 || calls[0].acquirer != want.acquirer || !calls[0].from.Equal(want.from) || !calls[0].to.Equal(want.to) {
		t.Fatalf("export calls %+v, want one %+v", calls, want)
	}
	// The leader recorded it; every node applies the record.
	for _, c := range nodes {
		waitFor(t, c.Base+" holds the reconciliation", func() bool {
			got, err := c.Day(ctx, open)
			return err == nil && len(got.Reconciliations) == 1 && got.Reconciliations[0].Reconciled &&
				got.Reconciliations[0].ReportSHA256 == f.Recon.ReportSHA256 && got.Reconciliations[0].Acquirer == f.File.Acquirer
		})
	}

	// The next day, with no transaction, and an export that fails: the day
	// closes, its file says which step failed.
	o.Export = func(context.Context, string, time.Time, time.Time) ([]byte, error) {
		return nil, errors.New("acquirer down")
	}
	next, err := adminapi.CloseDay(ctx, nodes, o)
	if err != nil {
		t.Fatal(err)
	}
	if next.Cutover.Closed != closed.Cutover.Opened || next.Day.Status != "settled" || len(next.Files) != 1 {
		t.Fatalf("second close %+v, want day %s settled", next, closed.Cutover.Opened)
	}
	if ferr := next.Files[0].Err; ferr == nil || !strings.Contains(ferr.Error(), "export "+next.Files[0].File.Acquirer+"'s settlement") ||
		!strings.Contains(ferr.Error(), "acquirer down") || next.Files[0].Recon != nil {
		t.Fatalf("file of the failed export: %+v", next.Files[0])
	}

	// No node answers: the error says the cutover failed, once ctx ends.
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	_, err = adminapi.CloseDay(short, []*adminapi.Client{adminapi.NewClient("127.0.0.1:1")}, o)
	if err == nil || !strings.Contains(err.Error(), "adminapi: close day: cutover: read the open day: ") {
		t.Fatalf("CloseDay with no node up: %v", err)
	}
}
