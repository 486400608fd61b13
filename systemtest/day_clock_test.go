package systemtest

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/internal/regsim"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// testClock is a node's business-day clock: it runs at the real pace from
// where it was last set, and counts its reads (the active's day loop
// reads it once a pass, which tells a test that a pass saw a jump).
type testClock struct {
	mu    sync.Mutex
	at    time.Time // the clock's time at real time since
	since time.Time
	reads int
}

func newTestClock(at time.Time) *testClock { return &testClock{at: at, since: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return c.at.Add(time.Since(c.since))
}

func (c *testClock) Set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.since = at, time.Now()
}

// Jump moves the clock by d.
func (c *testClock) Jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(time.Since(c.since) + d)
	c.since = time.Now()
}

func (c *testClock) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// seen waits until the clock was read a few times more: the day loop of
// the node that owns it has made passes since.
func (c *testClock) seen(t *testing.T) {
	t.Helper()
	r := c.Reads()
	waitFor(t, "the active's day loop to look at its clock", func() bool { return c.Reads() >= r+3 })
}

// TestClockJumpAcrossCutover (FAULTS.md scenario 10): with a cutover at
// 23:00 UTC and every node on its own clock at D 22:50, the active's clock
// jumps to 23:30 (one cutover: D closes, D+1 opens), back to 22:40 (no
// cutover, nothing reopens), leadership moves to a node still at 22:50 (no
// cutover back), then every clock jumps three days (one more cutover, to
// the schedule's day). Every transaction is in exactly one day, each
// closed day has one file recorded, the same from every node.
func TestClockJumpAcrossCutover(t *testing.T) {
	const dayD, dayD1, dayD3 = "20300611", "20300612", "20300614"
	start := time.Date(2030, 6, 11, 22, 50, 0, 0, time.UTC)
	clocks := map[string]*testClock{}
	regs := map[string]*prometheus.Registry{}
	e := mustStartTuned(t, func(c *node.Config) {
		clocks[c.ID] = newTestClock(start)
		c.Clock = clocks[c.ID].Now
		c.BusinessDay.Cutover = "23:00"
		c.BusinessDay.Poll = 100 * time.Millisecond
		c.Registry = prometheus.NewRegistry()
		regs[c.ID] = c.Registry
	})
	var clients []*adminapi.Client
	for _, cfg := range e.cl.Configs {
		clients = append(clients, adminapi.NewClient(cfg.AdminAddr))
	}
	lead := e.cl.Leader()
	active := func() *testClock { return clocks[e.cl.Configs[lead].ID] }
	openDay := func() string {
		d, _ := e.cl.Nodes[lead].Store().OpenDay()
		return d
	}
	// The active opens the schedule's day before the first transaction.
	waitFor(t, "the first day to open", func() bool { return openDay() != "" })
	if got := openDay(); got != dayD {
		t.Fatalf("open day %s at %v with a 23:00 cutover, want %s", got, start, dayD)
	}

	var results []regsim.Result
	sell := func(phase int, want string) {
		t.Helper()
		cfg := e.fleetConfig(10, 5)
		cfg.TerminalBase = 1000 * phase
		ctx, cancel := withTimeout(2 * time.Minute)
		defer cancel()
		rs := regsim.New(cfg).Run(ctx)
		ok := 0
		for _, r := range rs {
			if r.RC != wire.RCApproved {
				continue
			}
			ok++
			if tx, found, err := e.cl.Nodes[lead].Store().Get(r.Key); err != nil || !found || tx.Day != want {
				t.Errorf("phase %d: %s joined day %q (found %v, err %v), want %s", phase, r.Key, tx.Day, found, err, want)
			}
		}
		if ok == 0 {
			t.Fatalf("phase %d: no approval", phase)
		}
		results = append(results, rs...)
	}
	sell(1, dayD)

	t.Logf("%s (the active): clock to 23:30", e.cl.Configs[lead].ID)
	active().Set(start.Add(40 * time.Minute))
	waitFor(t, "the cutover to "+dayD1, func() bool { return openDay() == dayD1 })
	sell(2, dayD1)
	waitFor(t, dayD+" settled with its file", func() bool {
		st, files := dayStatus(daysOf(t, clients[lead]), dayD)
		return st == "settled" && files == 1
	})
	fileD := oneFile(t, daysOf(t, clients[lead]), dayD)

	t.Log("the active's clock back to 22:40")
	active().Set(start.Add(-10 * time.Minute))
	active().seen(t)
	wantDays(t, clients[lead], dayD1, dayD+" settled", dayD1+" open")
	sell(3, dayD1)

	old := lead
	ctx, cancel := withTimeout(time.Minute)
	if _, err := clients[lead].TransferLeader(ctx); err != nil {
		t.Fatalf("leadership transfer: %v", err)
	}
	cancel()
	waitFor(t, "a new active", func() bool { lead = e.cl.Leader(); return lead >= 0 && lead != old })
	t.Logf("leadership moved to %s, whose clock says %v", e.cl.Configs[lead].ID, active().Now().Format(time.TimeOnly))
	active().seen(t)
	wantDays(t, clients[lead], dayD1, dayD+" settled", dayD1+" open")
	sell(4, dayD1)

	t.Log("every clock three days ahead")
	for _, c := range clocks {
		c.Jump(72 * time.Hour)
	}
	waitFor(t, "the cutover to "+dayD3, func() bool { return openDay() == dayD3 })
	sell(5, dayD3)
	waitFor(t, dayD1+" settled with its file", func() bool {
		st, files := dayStatus(daysOf(t, clients[lead]), dayD1)
		return st == "settled" && files == 1
	})
	e.waitQuiet(time.Minute)

	var cutovers, files, fileErrors float64
	for id, reg := range regs {
		n := counterSum(t, reg, "tillgate_day_cutovers_total")
		t.Logf("%s committed %v cutovers", id, n)
		cutovers += n
		files += counterSum(t, reg, "tillgate_settlement_files_total")
		fileErrors += counterSum(t, reg, "tillgate_settlement_errors_total")
	}
	// The first one opened D on an empty log; then D -> D+1, D+1 -> D+3.
	if cutovers != 3 {
		t.Errorf("%v cutovers committed in all, want 3", cutovers)
	}
	if files != 2 || fileErrors != 0 {
		t.Errorf("%v settlement files recorded (want 2: %s and %s), %v errors", files, dayD, dayD1, fileErrors)
	}
	for _, c := range clients {
		d := wantDays(t, c, dayD3, dayD+" settled", dayD1+" settled", dayD3+" open")
		if f := oneFile(t, d, dayD); f != fileD {
			t.Errorf("%s: the file of %s recorded as %+v, earlier %+v", c.Base, dayD, f, fileD)
		}
		for _, x := range d.Days {
			if x.Day != dayD3 && x.ClosedBy != "schedule" {
				t.Errorf("%s: %s closed by %q, want schedule", c.Base, x.Day, x.ClosedBy)
			}
		}
		sameFileEverywhere(t, clients, dayD, oneFile(t, d, dayD))
		sameFileEverywhere(t, clients, dayD1, oneFile(t, d, dayD1))
	}
	var approved []string
	for _, r := range results {
		if r.RC == wire.RCApproved {
			approved = append(approved, r.Key)
		}
	}
	for i, c := range clients {
		per := inOneDay(t, e.cl.Configs[i].ID, txnDays(t, c, []string{dayD, dayD1, dayD3}), approved)
		t.Logf("%s: approvals per day %s", e.cl.Configs[i].ID, sortedKeys(per))
	}
	e.checkInvariants(results)
}

// counterSum adds up every series of a counter in reg.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
