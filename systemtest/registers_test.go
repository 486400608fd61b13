package systemtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/wire"
)

// regResult is what one register on the failover client saw for one
// identity.
type regResult struct {
	Key, RC, AuthCode, Node string
	Amount                  int64
	Done                    time.Time
	Unknown                 bool // ErrOutcomeUnknown: a reversal was queued
	NotSent                 bool
	RepeatMismatch          bool
}

// failoverFleet runs registers that link the failover package, as register
// software would, and records their history.
type failoverFleet struct {
	clients  []*failover.Client
	hist     *history.Log
	approved atomic.Int64
	mu       sync.Mutex
	results  []regResult
}

// newFailoverFleet opens n clients; nodes(i) gives register i's node list.
func newFailoverFleet(t *testing.T, dir string, n, terminalBase int, nodes func(i int) []string) *failoverFleet {
	t.Helper()
	return newFailoverFleetTuned(t, dir, n, terminalBase, nodes, nil)
}

// newFailoverFleetTuned is newFailoverFleet with tune applied to each
// client's config.
func newFailoverFleetTuned(t *testing.T, dir string, n, terminalBase int, nodes func(i int) []string, tune func(*failover.Config)) *failoverFleet {
	t.Helper()
	f := &failoverFleet{hist: history.New()}
	for i := range n {
		cfg := failover.DefaultConfig()
		cfg.Nodes = nodes(i)
		// A deadline shorter than the 5 s SIGSTOP, so that some outcomes
		// end unknown and the auto-reversal path runs under faults too.
		cfg.AttemptTimeout = 2 * time.Second
		cfg.Deadline = 4 * time.Second
		cfg.ReversalBackoffMin = 200 * time.Millisecond
		cfg.ReversalQueue = filepath.Join(dir, fmt.Sprintf("reg%05d.db", terminalBase+i))
		cfg.OnEvent = f.onEvent
		if tune != nil {
			tune(&cfg)
		}
		c, err := failover.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.clients = append(f.clients, c)
	}
	t.Cleanup(func() {
		for _, c := range f.clients {
			c.Close()
		}
	})
	return f
}

// failoverMerchant is the DE42 of the failover fleets' registers.
const failoverMerchant = "M00000000000002"

// stormBase is the first terminal of the repeat storms (stormRepeats).
const stormBase = 900000

// run drives every register until ctx ends: one transaction at a time with
// a think time, 10% of answered ones sent again as a repeat.
func (f *failoverFleet) run(ctx context.Context, terminalBase int, think time.Duration) {
	var wg sync.WaitGroup
	for i, c := range f.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(terminalBase), uint64(i)))
			tid := fmt.Sprintf("F%07d", terminalBase+i)
			for stan := 1; ctx.Err() == nil; stan++ {
				f.record(f.one(ctx, c, rnd, tid, stan))
				sleep(ctx, think/2+time.Duration(rnd.Int64N(int64(think))))
			}
		}()
	}
	wg.Wait()
}

func (f *failoverFleet) one(ctx context.Context, c *failover.Client, rnd *rand.Rand, tid string, stan int) regResult {
	now := time.Now().UTC()
	req := &wire.Message{
		MTI: "0200", PAN: []string{"4111111111111111", "5500000000000004"}[rnd.IntN(2)], ProcCode: "000000",
		Amount: 100 + rnd.Int64N(20000), HasAmount: true, TransmissionTime: now.Format("0102150405"),
		STAN: fmt.Sprintf("%06d", stan), LocalTime: now.Format("150405"), LocalDate: now.Format("0102"),
		Expiry: "3012", POSEntryMode: "051", POSCondition: "00", TerminalID: tid,
		MerchantID: failoverMerchant, Currency: "978",
	}
	r := regResult{Key: req.Key(), Amount: req.Amount}
	// The transaction itself is never abandoned with the test's context: a
	// register finishes what it started.
	resp, err := f.do(c, req)
	r.Done = time.Now()
	switch {
	case errors.Is(err, failover.ErrOutcomeUnknown):
		r.Unknown = true
		return r
	case err != nil:
		r.NotSent = true
		return r
	}
	r.RC, r.AuthCode = resp.ResponseCode, resp.AuthCode
	r.Node, _ = resp.Private.Get(wire.TagNodeID)
	if rnd.IntN(10) == 0 && ctx.Err() == nil {
		rep := *req
		rep.MTI = "0201"
		again, err := f.do(c, &rep)
		switch {
		case errors.Is(err, failover.ErrOutcomeUnknown):
			// The repeat met a fault (the active paused, say) and ended
			// unknown, so the client queued a reversal of this identity,
			// as for any unknown outcome: the register has reversed its
			// own approval, which then must not count (I1).
			r.RC, r.AuthCode, r.Unknown = "", "", true
		case err == nil && (again.ResponseCode != r.RC || again.AuthCode != r.AuthCode):
			r.RepeatMismatch = true
		}
	}
	return r
}

// do sends req, never abandoned with the test's context (a register
// finishes what it started), and records it in the history.
func (f *failoverFleet) do(c *failover.Client, req *wire.Message) (*wire.Message, error) {
	invoke := time.Now()
	resp, err := c.Do(context.Background(), req)
	outcome := history.Answered
	switch {
	case errors.Is(err, failover.ErrOutcomeUnknown):
		outcome = history.Unknown
	case errors.Is(err, failover.ErrNotSent):
		outcome = history.NotSent
	case err != nil:
		outcome = history.Failed
	}
	f.hist.Add(history.RequestEvent(req, invoke, time.Now(), resp, outcome))
	return resp, err
}

// onEvent records what the clients queued and got acknowledged.
func (f *failoverFleet) onEvent(e failover.Event) {
	var kind history.Kind
	switch e.Kind {
	case failover.EventReversalQueued:
		kind = history.Queued
	case failover.EventReversalAcked:
		kind = history.Acked
	default:
		return
	}
	if e.Msg != nil {
		f.hist.Add(history.QueueEvent(kind, e.Key, e.Msg, e.RC, e.Time))
	}
}

// queued counts the entries left in the registers' queues.
func (f *failoverFleet) queued(t *testing.T) int {
	t.Helper()
	n := 0
	for _, c := range f.clients {
		q, err := c.Queued()
		if err != nil {
			t.Fatal(err)
		}
		n += len(q)
	}
	return n
}

func (f *failoverFleet) record(r regResult) {
	if r.RC == wire.RCApproved {
		f.approved.Add(1)
	}
	f.mu.Lock()
	f.results = append(f.results, r)
	f.mu.Unlock()
}

// drain waits until every register's reversal queue is empty.
func (f *failoverFleet) drain(t *testing.T) {
	t.Helper()
	waitFor(t, "reversal queues to drain", func() bool {
		for _, c := range f.clients {
			if c.Stats().QueueDepth > 0 {
				return false
			}
		}
		return true
	})
}

func (f *failoverFleet) stats() (unknown, reversals int64) {
	for _, c := range f.clients {
		s := c.Stats()
		unknown += s.Unknown
		reversals += s.ReversalsAcked
	}
	return unknown, reversals
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
