package systemtest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// failpointDeath is a node process that SIGKILLed itself at an armed
// failpoint.
type failpointDeath struct {
	node   string
	points []string // the failpoints that fired since the previous death
}

// dayCloseRun drives TestProcessDayCloseSurvivesKills's faulty phase: it
// restarts every node that dies, retries the operator's cutover until a
// node answers it, and tells which failpoint each death fired.
type dayCloseRun struct {
	t      *testing.T
	p      *procCluster
	fpDir  string
	day    string // the day the operator closes
	armed  []string
	fired  map[string]bool
	deaths []failpointDeath
	answer string // how the cutover was finally answered
	lost   int    // cutover requests that got no answer
}

// reap restarts the nodes that died since the last look; a death must be
// a SIGKILL (the test sends none itself: it is a failpoint's).
func (r *dayCloseRun) reap() {
	for i, c := range r.p.procs {
		if c == nil || c.ProcessState == nil {
			continue
		}
		ws, _ := c.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			r.t.Fatalf("%s exited with %v, not by a failpoint's SIGKILL", r.p.ids[i], c.ProcessState)
		}
		d := failpointDeath{node: r.p.ids[i]}
		for _, fp := range r.armed {
			if _, err := os.Stat(filepath.Join(r.fpDir, fp)); errors.Is(err, os.ErrNotExist) && !r.fired[fp] {
				r.fired[fp] = true
				d.points = append(d.points, fp)
			}
		}
		r.t.Logf("%s died by SIGKILL at failpoint %v; restarting it", d.node, d.points)
		r.p.injected("failpoint-kill", d.node)
		r.deaths = append(r.deaths, d)
		r.p.procs[i] = nil
		r.p.start(i)
	}
}

// serving is the index of a running node that says it is the serving
// active, or -1.
func (r *dayCloseRun) serving() int {
	for i, c := range r.p.procs {
		if c == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := adminapi.NewClient(r.p.admin[i]).Status(ctx)
		cancel()
		if err == nil && st.Serving {
			return i
		}
	}
	return -1
}

// tryCutover sends the operator's cutover of r.day to the active; it
// reports whether a node answered it: done (200) or done already (409,
// the retry of a cutover whose answer was lost).
func (r *dayCloseRun) tryCutover() bool {
	l := r.serving()
	if l < 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := adminapi.NewClient(r.p.admin[l]).Cutover(ctx, r.day)
	var apiErr *adminapi.APIError
	var lost *adminapi.UnreachableError
	switch {
	case err == nil:
		if res.Closed != r.day {
			r.t.Fatalf("cutover of %s answered %+v", r.day, res)
		}
		r.answer = "200 by " + r.p.ids[l]
		return true
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusConflict:
		r.answer = "409 by " + r.p.ids[l] + ": " + apiErr.Body.Error
		return true
	case errors.As(err, &lost):
		r.lost++
		r.t.Logf("cutover sent to %s: no answer (%v); retrying with the same day", r.p.ids[l], lost.Err)
	default:
		r.t.Logf("cutover sent to %s: %v; retrying", r.p.ids[l], err)
	}
	return false
}

// settled reports whether some running node lists r.day settled with its
// file recorded.
func (r *dayCloseRun) settled() bool {
	for i, c := range r.p.procs {
		if c == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		d, err := adminapi.NewClient(r.p.admin[i]).Day(ctx, r.day)
		cancel()
		if err == nil && d.Status == "settled" && len(d.Files) > 0 {
			return true
		}
	}
	return false
}

// TestProcessDayCloseSurvivesKills (FAULTS.md scenario 10, with SIGKILL):
// under continuous load, the operator cuts over the day and the active
// SIGKILLs itself right after the cutover commits, before it answers; the
// operator retries on the next active with the same day and is told it is
// cut over already. The next active SIGKILLs itself with the day's file
// rendered but its checksum not recorded, and the one after that with the
// checksum recorded but the file not written. Each dead node is restarted.
// Then, with every node restarted once more: the day closed exactly once
// and is settled, the next day is open and there is no other; every
// transaction is in exactly one day, every approval a register got among
// them; the file is the same from every node, hashes to what the log
// records and is what the final active wrote; and I1-I5 hold.
func TestProcessDayCloseSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	fpDir := t.TempDir()
	// The node processes inherit the test's environment.
	t.Setenv("TILLGATE_FAILPOINT_DIR", fpDir)
	p := startProcClusterWith(t, func(cfg map[string]any) {
		cfg["business_day"] = map[string]any{"poll": "200ms"}
	})
	p.leader(60 * time.Second)

	fleet := newFailoverFleet(t, t.TempDir(), 100, 0, func(i int) []string {
		return []string{p.reg[i%3], p.reg[(i+1)%3], p.reg[(i+2)%3]}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { fleet.run(ctx, 0, 100*time.Millisecond); close(done) }()
	waitFor(t, "load", func() bool { return fleet.approved.Load() > 500 })

	r := &dayCloseRun{t: t, p: p, fpDir: fpDir, fired: map[string]bool{},
		armed: []string{node.FailpointCutover, node.FailpointRendered, node.FailpointRecorded}}
	r.day = daysOf(t, adminapi.NewClient(p.admin[p.leader(60*time.Second)])).Open
	// Nothing reaches the file's failpoints before a day is settled, so
	// all three are armed at once; each fires in the first process to
	// reach it.
	for _, fp := range r.armed {
		if err := os.WriteFile(filepath.Join(fpDir, fp), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("cutover of %s, every failpoint armed", r.day)
	cutDone := false
	deadline := time.Now().Add(3 * time.Minute)
	var loadMark int64
	for {
		r.reap()
		if !cutDone {
			cutDone = r.tryCutover()
		}
		if cutDone && len(r.deaths) == len(r.armed) && r.settled() {
			if loadMark == 0 {
				loadMark = fleet.approved.Load()
			}
			if fleet.approved.Load() > loadMark+300 {
				break // and the registers sell on after the last death
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes: cutover answered %v, deaths %+v, day settled %v", cutDone, r.deaths, r.settled())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("cutover answered %s after %d lost answers", r.answer, r.lost)

	cancel()
	<-done
	fleet.drain(t)
	p.waitConverged(t)
	t.Log("restart every node")
	for i, c := range p.procs {
		c.Process.Signal(syscall.SIGTERM)
		waitExit(c)
		p.procs[i] = nil
	}
	for i := range p.procs {
		p.start(i)
	}
	final := p.leader(60 * time.Second)
	p.waitConverged(t)

	for _, fp := range r.armed {
		if _, err := os.Stat(filepath.Join(fpDir, fp)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("failpoint %s did not fire (%v)", fp, err)
		}
	}
	if len(r.deaths) != len(r.armed) {
		t.Errorf("%d nodes died, want one per failpoint: %+v", len(r.deaths), r.deaths)
	}
	for i, d := range r.deaths {
		if len(d.points) != 1 || d.points[0] != r.armed[i] {
			t.Errorf("death %d of %s fired %v, want %s", i+1, d.node, d.points, r.armed[i])
		}
	}
	if r.lost == 0 {
		t.Error("the first cutover was answered: the active should have died before answering it")
	}

	checkDayClosedOnce(t, p, r.day, final, fleet.results)
	checkProcessInvariantsMin(t, p, fleet, fleet.results, 500)
	unknown, reversed := fleet.stats()
	t.Logf("failover client: %d outcomes unknown, %d reversals acknowledged", unknown, reversed)
}

// checkDayClosedOnce checks, through every node's admin API, that day was
// closed once by the operator and is settled, the day after it is open;
// every transaction is in one of the two, every approval the registers got
// among them; and day's file is the same from every node, hashes to what
// the log records and is on the final active's disk byte for byte.
func checkDayClosedOnce(t *testing.T, p *procCluster, day string, final int, results []regResult) {
	t.Helper()
	next := nextDayName(t, day)
	var clients []*adminapi.Client
	for _, a := range p.admin {
		clients = append(clients, adminapi.NewClient(a))
	}
	var rec adminapi.DayFile
	for i, c := range clients {
		d := wantDays(t, c, next, day+" settled", next+" open")
		if x := d.Days[0]; x.ClosedBy != "operator" || x.CutoverIndex == 0 {
			t.Errorf("%s: %s closed by %q at index %d", p.ids[i], day, x.ClosedBy, x.CutoverIndex)
		}
		f := oneFile(t, d, day)
		if i > 0 && f != rec {
			t.Errorf("%s records the file as %+v, %s as %+v", p.ids[i], f, p.ids[0], rec)
		}
		rec = f
	}
	csv, js := sameFileEverywhere(t, clients, day, rec)
	t.Logf("%s: %s file of %d rows, net %d, csv sha256 %s", day, rec.Acquirer, rec.Rows, rec.Net, rec.CSVSHA256)
	dir := func(i int) string { return filepath.Join(p.dir, p.ids[i], "settlement", day) }
	waitFor(t, "the final active to write the file", func() bool {
		_, err := os.Stat(filepath.Join(dir(final), rec.Acquirer+".json"))
		return err == nil
	})
	for i := range p.ids {
		for name, want := range map[string][]byte{rec.Acquirer + ".csv": csv, rec.Acquirer + ".json": js} {
			b, err := os.ReadFile(filepath.Join(dir(i), name))
			switch {
			case errors.Is(err, os.ErrNotExist) && i != final:
				continue // never the active with the day settled
			case err != nil:
				t.Errorf("%s: %v", p.ids[i], err)
			case !bytes.Equal(b, want):
				t.Errorf("%s: %s on disk differs from the file the nodes serve", p.ids[i], name)
			}
		}
	}

	var approved []string
	for _, r := range results {
		if r.RC == wire.RCApproved {
			approved = append(approved, r.Key)
		}
	}
	for i, c := range clients {
		per := inOneDay(t, p.ids[i], txnDays(t, c, []string{day, next}), approved)
		t.Logf("%s: approvals per day %s", p.ids[i], sortedKeys(per))
		if per[day] == 0 || per[next] == 0 {
			t.Errorf("%s: approvals per day %s: the load ran on both sides of the cutover", p.ids[i], sortedKeys(per))
		}
	}
}

func nextDayName(t *testing.T, day string) string {
	t.Helper()
	d, err := time.Parse("20060102", day)
	if err != nil {
		t.Fatal(err)
	}
	return d.AddDate(0, 0, 1).Format("20060102")
}

// waitConverged waits until every node is up, has applied the same index
// and holds no pending transaction.
func (p *procCluster) waitConverged(t *testing.T) {
	t.Helper()
	waitFor(t, "the nodes to converge", func() bool {
		var idx []uint64
		for i := range p.ids {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c := adminapi.NewClient(p.admin[i])
			st, err := c.Status(ctx)
			if err != nil {
				cancel()
				return false
			}
			page, err := c.Txns(ctx, adminapi.TxnQuery{Status: "pending", Limit: 1})
			cancel()
			if err != nil || len(page.Txns) > 0 {
				return false
			}
			idx = append(idx, st.AppliedIndex)
		}
		return slices.Min(idx) == slices.Max(idx)
	})
}
