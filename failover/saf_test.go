package failover

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillgate/tillgate/wire"
)

// Tests of the store-and-forward queue: write-ahead, what acknowledges an
// entry, backoff, and the entry's life across answers and restarts.

// refuseOwed answers reversals and advices (and their repeats) rc the
// first n times, then 00; a 0200 gets no answer, anything else 00.
func refuseOwed(rc string, n int) behaviour {
	var mu sync.Mutex
	return func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		switch {
		case wire.OriginalMTI(m.MTI) == "0200":
			return nil, false, 0
		case !mustDeliver(m.MTI):
			return f.Reply(m, wire.RCApproved), false, 0
		}
		mu.Lock()
		defer mu.Unlock()
		if n > 0 {
			n--
			return f.Reply(m, rc), false, 0
		}
		return f.Reply(m, wire.RCApproved), false, 0
	}
}

// owed returns a reversal or advice of mti naming a purchase of the
// register's, as a register sends it.
func owed(mti string) *wire.Message {
	o := purchase(100)
	m := *purchase(100)
	m.MTI, m.OriginalData = mti, wire.OriginalDataFor(wire.MTIFinancial, o.STAN, o.TransmissionTime)
	if mti == "0400" || mti == "0420" {
		m.PAN, m.Expiry = "", ""
	}
	return &m
}

// TestRefusedReversalOrAdviceStaysQueued: 30, 91 and 96 are not
// acknowledgements. A reversal or advice the register sends itself and
// that is answered so is returned as answered and queued; the forwarder
// repeats it with a growing backoff until any other answer.
func TestRefusedReversalOrAdviceStaysQueued(t *testing.T) {
	for _, tc := range []struct{ mti, rc string }{
		{"0400", wire.RCIssuerInoperative}, {"0420", wire.RCFormatError},
		{"0220", wire.RCSystemError}, {"0120", wire.RCIssuerInoperative},
	} {
		t.Run(tc.mti+"_"+tc.rc, func(t *testing.T) {
			f := newFake(t, refuseOwed(tc.rc, 3)) // Do's answer, then two forwarder tries
			rec := &recorder{}
			cfg := testConfig(t, f.Addr)
			cfg.OnEvent = rec.add
			c := open(t, cfg)
			req := owed(tc.mti)
			resp, err := c.Do(context.Background(), req)
			if err != nil || resp.ResponseCode != tc.rc {
				t.Fatalf("Do: %v %+v, want the answer %s", err, resp, tc.rc)
			}
			if rec.count(EventReversalQueued, func(e Event) bool {
				return e.Key == req.Key() && e.Msg != nil && e.Msg.MTI == wire.RepeatMTI(tc.mti) &&
					e.Msg.Key() == req.Key() && e.Msg.OriginalData == req.OriginalData
			}) != 1 {
				t.Fatal("no EventReversalQueued with the queued repeat before Do returned")
			}
			eventually(t, "acknowledged by 00", func() bool { return rec.count(EventReversalAcked, nil) > 0 })
			if rec.count(EventReversalAcked, func(e Event) bool { return e.RC == wire.RCApproved && e.Key == req.Key() }) != 1 {
				t.Fatal("acknowledged by something other than the 00")
			}
			checkRetries(t, rec, cfg, tc.rc, 2)
			got := f.Received(tc.mti, wire.RepeatMTI(tc.mti))
			if len(got) != 4 || got[1].MTI != wire.RepeatMTI(tc.mti) {
				t.Fatalf("node got %d copies, want the request and three repeats", len(got))
			}
			// An 0120 keeps its card (sealed in the file); a 0220 goes
			// without: the node takes it from the original DE90 names.
			wantPAN := map[string]string{"0120": req.PAN}[tc.mti]
			if queuedPAN(rec) != wantPAN || got[1].PAN != wantPAN || got[3].PAN != wantPAN {
				t.Fatalf("queued and repeated with DE2 %q, %q, %q; want %q", queuedPAN(rec), got[1].PAN, got[3].PAN, wantPAN)
			}
		})
	}
}

// TestQueuedReversalNotAckedByRefusal: the reversal of a purchase whose
// outcome is unknown is answered 91, then 96, then 00: only the 00 takes
// it out of the queue.
func TestQueuedReversalNotAckedByRefusal(t *testing.T) {
	var n atomic.Int32
	f := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		switch wire.OriginalMTI(m.MTI) {
		case "0200":
			return nil, false, 0
		case "0400":
			return f.Reply(m, []string{"91", "96", "00", "00"}[min(n.Add(1)-1, 3)]), false, 0
		}
		return f.Reply(m, wire.RCApproved), false, 0
	})
	rec := &recorder{}
	cfg := testConfig(t, f.Addr)
	cfg.Deadline, cfg.AttemptTimeout = 400*time.Millisecond, 150*time.Millisecond
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	req := purchase(321)
	if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	eventually(t, "acknowledged", func() bool { return rec.count(EventReversalAcked, nil) > 0 })
	if rec.count(EventReversalAcked, func(e Event) bool { return e.RC == "00" && e.Key == req.Key() }) != 1 || n.Load() != 3 {
		t.Fatalf("acked %d times with 00 after %d tries; want once, after 3", rec.count(EventReversalAcked, nil), n.Load())
	}
	if len(queued(t, c)) != 0 {
		t.Fatal("queue not empty")
	}
}

// checkRetries wants n EventReversalRetry answered rc, each waiting a
// jittered backoff within [Min, Max], each no shorter than the one before.
func checkRetries(t *testing.T, rec *recorder, cfg Config, rc string, n int) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var waits []time.Duration
	for _, e := range rec.ev {
		if e.Kind == EventReversalRetry {
			if e.RC != rc || !errors.Is(e.Err, errNotAcked) {
				t.Fatalf("retry after %s (%v), want %s", e.RC, e.Err, rc)
			}
			waits = append(waits, e.Retry)
		}
	}
	if len(waits) != n {
		t.Fatalf("%d retries, want %d", len(waits), n)
	}
	for i, w := range waits {
		if w < cfg.ReversalBackoffMin*4/5 || w > cfg.ReversalBackoffMax*6/5 || (i > 0 && w < waits[i-1]*4/6) {
			t.Fatalf("backoffs %v: not Min doubling to Max, jittered", waits)
		}
	}
}

func queuedPAN(rec *recorder) string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.ev {
		if e.Kind == EventReversalQueued && e.Msg != nil {
			return e.Msg.PAN
		}
	}
	return ""
}

// TestWriteAheadBeforeFirstByte: when the node reads a purchase, its
// reversal is in the queue file already, held; the answer removes it and
// nothing is reported queued. A reversal the register sends is written
// ahead as itself (as its repeat).
func TestWriteAheadBeforeFirstByte(t *testing.T) {
	var cp atomic.Pointer[Client]
	var mu sync.Mutex
	seen := map[string][]*entry{} // by request key: the queue when it arrived
	f := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI != "0800" {
			es, err := cp.Load().fwd.q.all()
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			seen[m.Key()] = es
			mu.Unlock()
		}
		return f.Reply(m, wire.RCApproved), false, 0
	})
	rec := &recorder{}
	cfg := testConfig(t, f.Addr)
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	cp.Store(c)
	sale, rev := purchase(500), owed("0400")
	for _, req := range []*wire.Message{sale, rev} {
		if _, err := c.Do(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if es := seen[sale.Key()]; len(es) != 1 || !es[0].Held || es[0].Of != sale.Key() || es[0].Msg.MTI != "0400" ||
		es[0].Msg.OriginalData[:20] != "0200"+sale.STAN+sale.TransmissionTime {
		t.Fatalf("queue when the purchase arrived: %+v", es)
	}
	if es := seen[rev.Key()]; len(es) != 1 || !es[0].Held || es[0].Msg.Key() != rev.Key() || es[0].Msg.MTI != "0401" {
		t.Fatalf("queue when the reversal arrived: %+v", es)
	}
	if n := len(queued(t, c)); n != 0 {
		t.Fatalf("%d entries left after final answers", n)
	}
	if rec.count(EventReversalQueued, nil)+rec.count(EventReversalAcked, nil) != 0 {
		t.Fatal("write-ahead of answered requests reported as queued or acked")
	}
}

// TestApprovalNotContradictedByItsWriteAhead: the queue's disk fails
// between the write-ahead and its removal. The reversal left in the file
// would undo the approval after a restart, so Do does not hand out the
// approval: the outcome is unknown and the reversal due at once.
func TestApprovalNotContradictedByItsWriteAhead(t *testing.T) {
	var cp atomic.Pointer[Client]
	f := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0200" {
			if err := cp.Load().fwd.q.st.(*fileStore).db.Close(); err != nil { // the disk is gone
				t.Error(err)
			}
		}
		return f.Reply(m, wire.RCApproved), false, 0
	})
	rec := &recorder{}
	cfg := testConfig(t, f.Addr)
	cfg.OnEvent = rec.add
	cfg.Logger = nil // errors expected
	c := open(t, cfg)
	cp.Store(c)
	req := purchase(600)
	resp, err := c.Do(context.Background(), req)
	if !errors.Is(err, ErrOutcomeUnknown) || resp != nil {
		t.Fatalf("Do: %+v %v, want the outcome unknown", resp, err)
	}
	if rec.count(EventReversalQueued, func(e Event) bool { return e.Key == req.Key() }) != 1 {
		t.Fatal("reversal not due")
	}
}

// snapshot copies the client's queue file as it is now: the disk of a
// register that loses power at this moment.
func snapshot(t *testing.T, c *Client) string {
	path := filepath.Join(t.TempDir(), "at-power-loss.db")
	if err := c.fwd.q.st.(*fileStore).db.View(func(tx *bolt.Tx) error { return tx.CopyFile(path, 0o600) }); err != nil {
		t.Error(err)
	}
	return path
}

// TestPowerLossMidRequest: the register loses power while its purchase is
// on the wire. Restarted, it finds the reversal written ahead, reports it
// queued at Open and delivers it.
func TestPowerLossMidRequest(t *testing.T) {
	var cp atomic.Pointer[Client]
	var disk atomic.Value
	a := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0200" {
			disk.Store(snapshot(t, cp.Load()))
			return nil, true, 0 // and the register is gone
		}
		return f.Reply(m, wire.RCApproved), false, 0
	})
	cfg := testConfig(t, a.Addr)
	cfg.Deadline = 300 * time.Millisecond
	c := open(t, cfg)
	cp.Store(c)
	req := purchase(900)
	_, _ = c.Do(context.Background(), req)
	b := newFake(t, approve)
	rec := &recorder{}
	cfg2 := testConfig(t, b.Addr)
	cfg2.ReversalQueue = disk.Load().(string)
	cfg2.OnEvent = rec.add
	c2 := open(t, cfg2)
	if rec.count(EventReversalQueued, func(e Event) bool {
		return e.Key == req.Key() && e.Msg != nil && e.Msg.MTI == "0400" && e.Msg.OriginalData[4:10] == req.STAN
	}) != 1 {
		t.Fatal("Open did not report the written-ahead reversal due")
	}
	eventually(t, "reversal delivered", func() bool { return len(queued(t, c2)) == 0 })
	if revs := b.Received("0400", "0401"); len(revs) != 1 || revs[0].OriginalData[4:10] != req.STAN {
		t.Fatalf("restarted register sent %d reversals", len(revs))
	}
	// The event follows the removal from the queue: wait for it too.
	eventually(t, "acknowledgement event", func() bool {
		return rec.count(EventReversalAcked, func(e Event) bool { return e.Key == req.Key() }) == 1
	})
}

// TestRepeatStoredBeforeRetry: the register crashes while the first copy
// of a queued reversal is on the wire. Restarted, it sends the repeat
// (0401): that copy may have arrived.
func TestRepeatStoredBeforeRetry(t *testing.T) {
	var cp atomic.Pointer[Client]
	var disk atomic.Value
	a := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		switch m.MTI {
		case "0800":
			return f.Reply(m, wire.RCApproved), false, 0
		case "0400":
			if disk.Load() == nil {
				disk.Store(snapshot(t, cp.Load()))
			}
		}
		return nil, false, 0
	})
	cfg := testConfig(t, a.Addr)
	cfg.Deadline, cfg.AttemptTimeout = 300*time.Millisecond, 100*time.Millisecond
	c := open(t, cfg)
	cp.Store(c)
	if _, err := c.Do(context.Background(), purchase(901)); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	eventually(t, "the reversal on the wire", func() bool { return disk.Load() != nil })
	b := newFake(t, approve)
	cfg2 := testConfig(t, b.Addr)
	cfg2.ReversalQueue = disk.Load().(string)
	c2 := open(t, cfg2)
	eventually(t, "reversal delivered", func() bool { return len(queued(t, c2)) == 0 })
	if revs := b.Received("0400", "0401"); len(revs) != 1 || revs[0].MTI != "0401" {
		t.Fatalf("after the restart: %d reversals, first %v; want one 0401", len(revs), revs)
	}
}

// TestDoBoundedByDeadline: a node that accepts connections and never
// answers, not even the sign-on, with a dial timeout far beyond the
// deadline: Do still returns (not sent) by Config.Deadline or ctx's,
// concurrent callers waiting for the connect pass included.
func TestDoBoundedByDeadline(t *testing.T) {
	f := newFake(t, func(*fakeNode, *wire.Message) (*wire.Message, bool, time.Duration) { return nil, false, 0 })
	cfg := testConfig(t, f.Addr)
	cfg.DialTimeout, cfg.AttemptTimeout, cfg.Hold = time.Hour, time.Hour, time.Hour
	cfg.Deadline = 200 * time.Millisecond
	cfg.SilenceProbe = 0
	c := open(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 3)
	for _, ctx := range []context.Context{context.Background(), context.Background(), ctx} {
		req := purchase(1)
		go func() {
			_, err := c.Do(ctx, req)
			done <- err
		}()
	}
	guard := time.After(5 * time.Second) // bounds a hung test; measures nothing
	for range 3 {
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotSent) {
				t.Fatalf("err %v, want not sent", err)
			}
		case <-guard:
			t.Fatal("Do ran past its deadline (waiting on dial or sign-on)")
		}
	}
	if s := c.Stats(); s.BreakersOpen != 0 {
		t.Fatalf("the callers' deadlines counted as node failures: %+v", s)
	}
}

// silentSales answers network messages, never a purchase, and reversals
// with act (nil: never).
func silentSales(act func(f *fakeNode, m *wire.Message) *wire.Message) behaviour {
	return func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		switch {
		case m.MTI == "0800":
			return f.Reply(m, wire.RCApproved), false, 0
		case wire.OriginalMTI(m.MTI) == "0400" && act != nil:
			return act(f, m), false, 0
		}
		return nil, false, 0
	}
}

// reversalsOf counts the reversals f received naming req.
func reversalsOf(f *fakeNode, req *wire.Message) int {
	n := 0
	for _, m := range f.Received("0400", "0401") {
		if m.OriginalData[4:10] == req.STAN {
			n++
		}
	}
	return n
}

// TestForwarderBacksOffOnNotProcessed: a node that answers a queued
// reversal "not processed" gets it again after the backoff, not at the
// next re-check: while a second request runs its whole deadline, the
// first reversal is not sent again.
func TestForwarderBacksOffOnNotProcessed(t *testing.T) {
	f := newFake(t, silentSales(func(f *fakeNode, m *wire.Message) *wire.Message {
		r := f.Reply(m, wire.RCIssuerInoperative)
		r.Private.Set("NP", "1")
		return r
	}))
	rec := &recorder{}
	cfg := testConfig(t, f.Addr)
	cfg.Deadline, cfg.AttemptTimeout = 300*time.Millisecond, 100*time.Millisecond
	cfg.RecheckMin, cfg.RecheckMax = time.Millisecond, time.Millisecond
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	first, second := purchase(1), purchase(2)
	if _, err := c.Do(context.Background(), first); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	eventually(t, "first reversal sent", func() bool { return reversalsOf(f, first) > 0 })
	if _, err := c.Do(context.Background(), second); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	eventually(t, "second reversal sent", func() bool { return reversalsOf(f, second) > 0 })
	if n := reversalsOf(f, first); n != 1 {
		t.Fatalf("first reversal sent %d times while backing off", n)
	}
	eventually(t, "both refused", func() bool { return rec.count(EventReversalRetry, nil) == 2 })
	if rec.count(EventReversalRetry, func(e Event) bool { return errors.Is(e.Err, errNotProcessed) && e.Retry >= 45*time.Minute }) != 2 {
		t.Fatal("NP answers did not back off")
	}
}

// TestForwarderBacksOffOnPackError: an entry that cannot be packed is
// tried once per backoff, not in a loop, and does not hold up the others.
func TestForwarderBacksOffOnPackError(t *testing.T) {
	f := newFake(t, silentSales(func(f *fakeNode, m *wire.Message) *wire.Message { return f.Reply(m, wire.RCApproved) }))
	rec := &recorder{}
	cfg := testConfig(t, f.Addr)
	cfg.Deadline, cfg.AttemptTimeout = 300*time.Millisecond, 100*time.Millisecond
	cfg.RecheckMin, cfg.RecheckMax = time.Millisecond, time.Millisecond
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	bad := &entry{Msg: Reversal(purchase(3), "000001", wire.TransmissionTime(time.Now())), Of: "bad", Created: time.Now().UnixNano(), Held: true}
	bad.Msg.TerminalID = "TOOLONG123" // DE41 is 8 long
	if err := c.fwd.q.add(bad); err != nil {
		t.Fatal(err)
	}
	c.fwd.q.release(bad.ID, 0, 0)
	c.fwd.nowDue(bad)
	req := purchase(4)
	if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	eventually(t, "good reversal acknowledged", func() bool { return rec.count(EventReversalAcked, nil) == 1 })
	// A pass per wake (Open, the bad entry, the good one, its ack), not
	// one per re-check.
	if n := rec.count(EventQueue, nil); n > 20 {
		t.Fatalf("%d forwarder passes during one request: it spins", n)
	}
	if n := rec.count(EventReversalRetry, func(e Event) bool { return e.Key == "bad" && errors.Is(e.Err, errPack) }); n != 1 {
		t.Fatalf("unpackable entry tried %d times, want once per backoff", n)
	}
}

// TestAckedEntryNeverComesBack: the forwarder read an entry, then an
// answer removed it (a late acknowledgement), then the forwarder's try
// comes: it neither sends the entry nor writes it back.
func TestAckedEntryNeverComesBack(t *testing.T) {
	f := newFake(t, echoOnly)
	cfg := testConfig(t, f.Addr)
	cfg.AttemptTimeout = 100 * time.Millisecond
	c := open(t, cfg)
	e := &entry{Msg: Reversal(purchase(5), c.NextSTAN(), wire.TransmissionTime(time.Now())), Of: "sale", Created: time.Now().UnixNano(), Held: true}
	if err := c.fwd.q.add(e); err != nil {
		t.Fatal(err)
	}
	stale := *e // what the forwarder's pass read
	if found, err := c.fwd.q.remove(e); err != nil || !found {
		t.Fatalf("remove: %v %v", found, err)
	}
	if d := c.fwd.forwardOne(&stale); d != 0 {
		t.Fatalf("forwardOne of a removed entry: retry in %v", d)
	}
	if n := len(f.Received("0400", "0401")); n != 0 {
		t.Fatalf("an acknowledged entry was sent again (%d)", n)
	}
	if n := len(queued(t, c)); n != 0 {
		t.Fatalf("an acknowledged entry came back: %d queued", n)
	}
}

// TestLateAckRemovesOnce: the node acknowledges a queued reversal after the
// attempt timed out. The late answer removes it; the forwarder's next try
// finds it gone; one acknowledgement is reported.
func TestLateAckRemovesOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Deadline, cfg.AttemptTimeout = 300*time.Millisecond, 100*time.Millisecond
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = 150*time.Millisecond, 150*time.Millisecond
	f := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		switch wire.OriginalMTI(m.MTI) {
		case "0200":
			return nil, false, 0
		case "0400":
			return f.Reply(m, wire.RCApproved), false, cfg.AttemptTimeout + 20*time.Millisecond
		}
		return f.Reply(m, wire.RCApproved), false, 0
	})
	cfg.Nodes = []string{f.Addr}
	cfg.SilenceProbe = 0
	rec := &recorder{}
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	if _, err := c.Do(context.Background(), purchase(6)); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	eventually(t, "acknowledged", func() bool { return rec.count(EventReversalAcked, nil) > 0 })
	eventually(t, "late answer seen", func() bool { return rec.count(EventLateAnswer, nil) > 0 })
	if n := len(queued(t, c)); n != 0 {
		t.Fatalf("%d queued", n)
	}
	if n := rec.count(EventReversalAcked, nil); n != 1 {
		t.Fatalf("acknowledged %d times", n)
	}
}

// TestQueueIndex: entries are found by identity through the index, a
// second entry of one identity is refused, held entries are left to their
// Do, and a file from before the index gets one at open.
func TestQueueIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	writeOldFormat(t, path, 3)
	q, err := openQueue(path, false, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	es, err := q.all()
	if err != nil || len(es) != 3 {
		t.Fatalf("all: %d %v", len(es), err)
	}
	dup := &entry{Msg: es[1].Msg, Of: "again"}
	if err := q.add(dup); !errors.Is(err, errQueuedAlready) {
		t.Fatalf("a second entry of one identity: %v", err)
	}
	held := &entry{Msg: Reversal(purchase(7), "000777", "1203120000"), Held: true}
	if err := q.add(held); err != nil {
		t.Fatal(err)
	}
	if got, err := q.removeDue(held.Msg.Key()); err != nil || got != nil {
		t.Fatalf("removeDue took a held entry: %v %v", got, err)
	}
	for _, i := range []int{1, 0, 2} {
		got, err := q.removeDue(es[i].Msg.Key())
		if err != nil || got == nil || got.ID != es[i].ID || got.Of != es[i].Of {
			t.Fatalf("removeDue %d: %+v %v", i, got, err)
		}
	}
	if rest, _ := q.all(); len(rest) != 1 || rest[0].ID != held.ID {
		t.Fatalf("left: %+v", rest)
	}
	if got, _ := q.removeDue(es[0].Msg.Key()); got != nil {
		t.Fatal("removed twice")
	}
}

// writeOldFormat writes n entries the way the queue did before its index.
func writeOldFormat(t *testing.T, path string, n int) {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketQueue)
		if err != nil {
			return err
		}
		for i := range n {
			e := &entry{Msg: Reversal(purchase(int64(i)), pad6(uint32(100+i)), "1203120000"), Of: pad6(uint32(i))}
			e.ID, _ = b.NextSequence()
			if err := putOld(b, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// putOld stores e as the queue did before sealing: JSON, card and all.
func putOld(b *bolt.Bucket, e *entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(idKey(e.ID), v)
}

// TestRestartReportsNothingTwice: an entry reported queued before a Close
// is not reported again by the next Open (only a crash's leftovers are).
func TestRestartReportsNothingTwice(t *testing.T) {
	f := newFake(t, echoOnly)
	cfg := testConfig(t, f.Addr)
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), purchase(8)); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg.OnEvent = rec.add
	c2 := open(t, cfg)
	if n := rec.count(EventReversalQueued, nil); n != 0 || len(queued(t, c2)) != 1 {
		t.Fatalf("reopened: %d queued events, %d entries; want 0 and 1", n, len(queued(t, c2)))
	}
}

// TestNextSTANOneSequence: with no Config.NewSTAN the client owns the
// register's STAN sequence: the register's request, the reversal written
// ahead of it and the client's network messages take consecutive STANs,
// none twice, and a restarted client goes on after them.
func TestNextSTANOneSequence(t *testing.T) {
	f := newFake(t, silentSales(nil))
	cfg := testConfig(t, f.Addr)
	cfg.Deadline, cfg.AttemptTimeout = 300*time.Millisecond, 100*time.Millisecond
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := purchase(10)
	req.STAN = c.NextSTAN()
	if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	eventually(t, "reversal sent", func() bool { return reversalsOf(f, req) > 0 })
	last := c.NextSTAN()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{last: true}
	for _, m := range f.Received() {
		used[m.STAN] = true
	}
	from := uint32(atoi(t, req.STAN))
	n := stanDistance(from, uint32(atoi(t, last)))
	for i := range n + 1 {
		if !used[pad6(stanPlus(from, i))] {
			t.Fatalf("STANs %s..%s: %s unused; used %v", req.STAN, last, pad6(stanPlus(from, i)), used)
		}
	}
	if len(used) != int(n)+1 {
		t.Fatalf("STANs outside the register's sequence: %v", used)
	}
	c2 := open(t, cfg)
	if d := stanDistance(uint32(atoi(t, last)), uint32(atoi(t, c2.NextSTAN()))); d < 1 || d > stanBlock {
		t.Fatalf("restarted sequence %d STANs after the last one", d)
	}
	cfg.NewSTAN = func() string { return "424242" }
	cfg.ReversalQueue = filepath.Join(t.TempDir(), "lent.db")
	if s := open(t, cfg).NextSTAN(); s != "424242" {
		t.Fatalf("NextSTAN %s with a lent sequence", s)
	}
}

func stanDistance(from, to uint32) uint32 { return (to + 999999 - from) % 999999 }

func atoi(t *testing.T, s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("STAN %q", s)
		}
		n = 10*n + int(r-'0')
	}
	return n
}
