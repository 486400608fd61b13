package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

func TestApproved(t *testing.T) {
	f := newFake(t, approve)
	c := open(t, testConfig(t, f.Addr))
	req := purchase(1000)
	resp, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MTI != "0210" || resp.ResponseCode != "00" || resp.STAN != req.STAN {
		t.Fatalf("answer %s rc %s stan %s", resp.MTI, resp.ResponseCode, resp.STAN)
	}
	if got := f.Received("0800"); len(got) != 1 || got[0].NetworkCode != wire.NetSignOn {
		t.Fatalf("want one sign-on before the request, got %d", len(got))
	}
	if s := c.Stats(); s.State != StateOnline || s.Approved != 1 || s.Requests != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConcurrentRequestsShareOneConnection(t *testing.T) {
	// Answers come back out of order: the later request answered first.
	f := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		d := time.Duration(100-int(m.Amount)%100) * time.Millisecond / 2
		return f.Reply(m, wire.RCApproved), false, d
	})
	c := open(t, testConfig(t, f.Addr))
	var wg sync.WaitGroup
	reqs := make([]*wire.Message, 50)
	for i := range reqs {
		reqs[i] = purchase(int64(100 + i))
	}
	errs := make(chan error, len(reqs))
	for _, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Do(context.Background(), r)
			if err == nil && (resp.STAN != r.STAN || resp.Amount != r.Amount) {
				err = fmt.Errorf("answer %s matched to %s", resp.STAN, r.STAN)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := c.Stats().Dials; d != 1 {
		t.Fatalf("want one connection, dialled %d", d)
	}
}

func TestFollowsActiveHint(t *testing.T) {
	b := newFake(t, approve)
	a := newFake(t, approve)
	c := open(t, testConfig(t, a.Addr, b.Addr))
	if _, err := c.Do(context.Background(), purchase(100)); err != nil {
		t.Fatal(err)
	}
	// From now on a says the active is b, in a newer term.
	a.SetHint(b.Addr, 2)
	if _, err := c.Do(context.Background(), purchase(200)); err != nil {
		t.Fatal(err)
	}
	if c.Active() != b.Addr {
		t.Fatalf("active %s, want %s", c.Active(), b.Addr)
	}
	req := purchase(300)
	if _, err := c.Do(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := b.Received("0200")
	if len(got) != 1 || got[0].STAN != req.STAN {
		t.Fatalf("b got %d requests, want the third", len(got))
	}
	// An older term's hint is ignored.
	a.SetHint(a.Addr, 1)
	b.SetHint(a.Addr, 1)
	if _, err := c.Do(context.Background(), purchase(400)); err != nil {
		t.Fatal(err)
	}
	if c.Active() != b.Addr {
		t.Fatalf("followed a stale hint to %s", c.Active())
	}
}

func TestNotProcessedResentUnchangedToActive(t *testing.T) {
	b := newFake(t, approve)
	a := newFake(t, notProcessedTo(b.Addr))
	c := open(t, testConfig(t, a.Addr, b.Addr))
	req := purchase(1234)
	resp, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseCode != "00" {
		t.Fatalf("rc %s", resp.ResponseCode)
	}
	if got := a.Received("0200"); len(got) != 1 {
		t.Fatalf("a got %d", len(got))
	}
	got := b.Received("0200", "0201")
	if len(got) != 1 || got[0].MTI != "0200" || got[0].Key() != req.Key() {
		t.Fatalf("b got %v, want the unchanged 0200", got)
	}
	if c.Active() != b.Addr {
		t.Fatalf("active %s", c.Active())
	}
}

func TestRepeatAfterConnectionDiesAfterWrite(t *testing.T) {
	b := newFake(t, approve)
	a := newFake(t, closeOn)
	rec := &recorder{}
	cfg := testConfig(t, a.Addr, b.Addr)
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	req := purchase(500)
	resp, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ResponseCode != "00" {
		t.Fatalf("rc %s", resp.ResponseCode)
	}
	got := b.Received("0200", "0201")
	if len(got) != 1 || got[0].MTI != "0201" {
		t.Fatalf("b got %v, want one 0201", got)
	}
	if g := got[0]; g.STAN != req.STAN || g.TransmissionTime != req.TransmissionTime || g.TerminalID != req.TerminalID {
		t.Fatalf("repeat changed the identity: %s", g.Key())
	}
	if rec.count(EventRepeat, nil) != 1 || rec.count(EventFailover, nil) != 1 {
		t.Fatalf("repeat events %d, failover events %d", rec.count(EventRepeat, nil), rec.count(EventFailover, nil))
	}
	if req.MTI != "0200" {
		t.Fatal("Do modified the caller's request")
	}
}

func TestTimeoutRepeatsOnSameLiveLink(t *testing.T) {
	// The node answers echoes but only the second copy of the request.
	var n int
	var mu sync.Mutex
	f := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0800" {
			return f.Reply(m, "00"), false, 0
		}
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 1 {
			return nil, false, 0
		}
		return f.Reply(m, "00"), false, 0
	})
	c := open(t, testConfig(t, f.Addr))
	if _, err := c.Do(context.Background(), purchase(100)); err != nil {
		t.Fatal(err)
	}
	got := f.Received("0200", "0201")
	if len(got) != 2 || got[0].MTI != "0200" || got[1].MTI != "0201" {
		t.Fatalf("got %d requests", len(got))
	}
	if d := c.Stats().Dials; d != 1 {
		t.Fatalf("dialled %d times; the link was alive", d)
	}
}

func TestUnknownQueuesReversalThenDeliversOnce(t *testing.T) {
	a := newFake(t, echoOnly)
	rec := &recorder{}
	cfg := testConfig(t, a.Addr)
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	req := purchase(4321)
	_, err := c.Do(context.Background(), req)
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrNotSent) {
		t.Fatalf("err %v, want ErrOutcomeUnknown", err)
	}
	// Queued before Do returned.
	es := queued(t, c)
	if len(es) != 1 {
		t.Fatalf("queue holds %d entries", len(es))
	}
	m := es[0].Msg
	wantDE90 := "0200" + req.STAN + req.TransmissionTime + "0000000000000000000000"
	if m.OriginalData != wantDE90 || len(m.OriginalData) != 42 {
		t.Fatalf("DE90 %q, want %q", m.OriginalData, wantDE90)
	}
	if m.TerminalID != req.TerminalID || m.Amount != req.Amount || !m.HasAmount || m.STAN == req.STAN || m.PAN != "" {
		t.Fatalf("reversal %+v", m)
	}
	if err := wire.ValidateRequest(&m); err != nil {
		t.Fatalf("reversal invalid: %v", err)
	}
	// Its bytes: what the codec packs is what the node will read.
	b, err := c.codec.Pack(&m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.codec.Unpack(b)
	if err != nil || back.OriginalData != wantDE90 || back.MTI != "0400" {
		t.Fatalf("packed reversal: %v %+v", err, back)
	}
	if reps := a.Received("0201"); len(reps) == 0 {
		t.Fatal("no repeat was sent before giving up")
	}
	if n := len(a.Received("0200")); n != 1 {
		t.Fatalf("original sent %d times", n)
	}
	// The node goes away, comes back, answers: the reversal is delivered
	// and acknowledged, and not sent again.
	addr := a.Addr
	a.Stop()
	time.Sleep(100 * time.Millisecond)
	a2 := startFake(t, addr, approve)
	eventually(t, "reversal acknowledged", func() bool { return len(queued(t, c)) == 0 })
	revs := a2.Received("0400", "0401")
	if len(revs) == 0 || revs[len(revs)-1].OriginalData != wantDE90 || revs[0].STAN != m.STAN {
		t.Fatalf("reversals received: %d", len(revs))
	}
	time.Sleep(4 * cfg.ReversalBackoffMax)
	if again := a2.Received("0400", "0401"); len(again) != len(revs) {
		t.Fatalf("reversal re-sent after acknowledgement: %d then %d", len(revs), len(again))
	}
	if rec.count(EventReversalQueued, nil) != 1 || rec.count(EventReversalAcked, nil) != 1 || rec.count(EventUnknown, nil) != 1 {
		t.Fatal("missing reversal events")
	}
	// The acknowledgement says what was reversed and how it was answered,
	// so that a register can count it in its batch.
	ackOf := func(e Event) bool {
		return e.Key == req.Key() && e.RC == wire.RCApproved && e.Msg != nil &&
			e.Msg.OriginalData == wantDE90 && e.Msg.Amount == req.Amount && e.Msg.ProcCode == req.ProcCode
	}
	if rec.count(EventReversalAcked, ackOf) != 1 {
		t.Fatal("EventReversalAcked lacks the reversal, its answer or the original's key")
	}
	if s := c.Stats(); s.QueueDepth != 0 || s.Unknown != 1 || s.ReversalsAcked != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueueSurvivesCloseAndOpen(t *testing.T) {
	a := newFake(t, echoOnly)
	cfg := testConfig(t, a.Addr)
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour // never resent by the first client
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := purchase(777)
	if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// A restarted register with a node that answers.
	b := newFake(t, approve)
	cfg2 := testConfig(t, b.Addr)
	cfg2.ReversalQueue = cfg.ReversalQueue
	c2 := open(t, cfg2)
	eventually(t, "queue drained after restart", func() bool { return len(queued(t, c2)) == 0 })
	revs := b.Received("0400", "0401")
	if len(revs) == 0 || revs[0].OriginalData[4:10] != req.STAN {
		t.Fatalf("restarted client sent %d reversals", len(revs))
	}
}

func TestLateApprovalIsReversed(t *testing.T) {
	cfg := testConfig(t)
	a := newFake(t, lateBy(cfg.Deadline+200*time.Millisecond))
	cfg.Nodes = []string{a.Addr}
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour // keep the entry to look at it
	rec := &recorder{}
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	req := purchase(999)
	if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v", err)
	}
	eventually(t, "late approval seen", func() bool {
		return rec.count(EventLateAnswer, func(e Event) bool { return e.Key == req.Key() && e.RC == "00" }) > 0
	})
	es := queued(t, c)
	if len(es) != 1 || es[0].Of != req.Key() || es[0].Msg.MTI[:3] != "040" {
		t.Fatalf("queue %v", es)
	}
}

func TestNotSentWhenNothingListens(t *testing.T) {
	c := open(t, testConfig(t, deadAddr(t), deadAddr(t)))
	_, err := c.Do(context.Background(), purchase(100))
	if !errors.Is(err, ErrNotSent) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err %v, want ErrNotSent", err)
	}
	if n := len(queued(t, c)); n != 0 {
		t.Fatalf("queued %d for a request never sent", n)
	}
}

func TestBreakerOpensAndOfflineFailsFast(t *testing.T) {
	dead := deadAddr(t)
	rec := &recorder{}
	cfg := testConfig(t, dead)
	cfg.OnEvent = rec.add
	cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
	cfg.OfflineProbe = time.Hour
	c := open(t, cfg)
	_, err := c.Do(context.Background(), purchase(100))
	if !errors.Is(err, ErrNotSent) {
		t.Fatalf("err %v", err)
	}
	if n := rec.count(EventBreaker, func(e Event) bool { return e.Open && e.Addr == dead }); n != 1 {
		t.Fatalf("breaker open events %d", n)
	}
	if d := c.Stats().DialFailures; d != int64(cfg.BreakerFailures) {
		t.Fatalf("dial failures %d, want %d then open", d, cfg.BreakerFailures)
	}
	_, err = c.Do(context.Background(), purchase(100))
	if !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrOffline) {
		t.Fatalf("second request: %v, want fail fast offline", err)
	}
	if s := c.Stats(); s.State != StateOffline || s.Dials != int64(cfg.BreakerFailures) {
		t.Fatalf("stats %+v", s)
	}
}

func TestBreakerClosesAfterEchoProbe(t *testing.T) {
	a := newFake(t, approve)
	addr := a.Addr
	a.Stop()
	rec := &recorder{}
	cfg := testConfig(t, addr)
	cfg.OnEvent = rec.add
	c := open(t, cfg)
	if _, err := c.Do(context.Background(), purchase(1)); !errors.Is(err, ErrNotSent) {
		t.Fatalf("err %v", err)
	}
	a2 := startFake(t, addr, approve)
	eventually(t, "back online", func() bool {
		_, err := c.Do(context.Background(), purchase(2))
		return err == nil
	})
	if rec.count(EventBreaker, func(e Event) bool { return !e.Open }) != 1 {
		t.Fatal("no breaker close event")
	}
	if e := a2.Received("0800"); len(e) == 0 || e[0].NetworkCode != wire.NetEcho {
		t.Fatal("an open breaker must be probed with an echo")
	}
}

func TestEchoKeepsLinkAndDetectsDeadOne(t *testing.T) {
	b := newFake(t, approve)
	a := newFake(t, approve)
	cfg := testConfig(t, a.Addr, b.Addr)
	cfg.EchoIdle, cfg.DeadAfter = 50*time.Millisecond, 200*time.Millisecond
	c := open(t, cfg)
	if _, err := c.Do(context.Background(), purchase(1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "echoes", func() bool {
		n := 0
		for _, m := range a.Received("0800") {
			if m.NetworkCode == wire.NetEcho {
				n++
			}
		}
		return n >= 2
	})
	if c.Stats().Dials != 1 {
		t.Fatal("an echoed link was dropped")
	}
	// a goes silent (half-open): the link is declared dead, b takes over.
	a.SetHandler(func(*fakeNode, *wire.Message) (*wire.Message, bool, time.Duration) { return nil, false, 0 })
	eventually(t, "dead link dropped", func() bool { return c.Active() == b.Addr })
	if _, err := c.Do(context.Background(), purchase(2)); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidRequest(t *testing.T) {
	c := open(t, testConfig(t, deadAddr(t)))
	if _, err := c.Do(context.Background(), &wire.Message{MTI: "0200"}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("err %v", err)
	}
}

func TestConfigRejected(t *testing.T) {
	if _, err := Open(DefaultConfig()); !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v", err)
	}
}

// TestSilentNodeProbedThenLeft: the active takes a request and then says
// nothing at all, not even to an echo, with its connection open (a paused
// process). The register does not wait out its attempt timeout: after
// SilenceProbe it echoes, after as long again it takes the node for dead
// and repeats the request on the next node.
func TestSilentNodeProbedThenLeft(t *testing.T) {
	var paused atomic.Bool
	a := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		switch {
		case paused.Load():
			return nil, false, 0
		case m.MTI == "0200":
			paused.Store(true)
			return nil, false, 0
		}
		return f.Reply(m, "00"), false, 0
	})
	b := newFake(t, approve)
	cfg := testConfig(t, a.Addr, b.Addr)
	cfg.AttemptTimeout, cfg.Deadline = time.Hour, 2*time.Hour // only the probe can end the wait
	cfg.SilenceProbe = 50 * time.Millisecond
	c := open(t, cfg)
	resp, err := c.Do(context.Background(), purchase(700))
	if err != nil || resp.ResponseCode != wire.RCApproved {
		t.Fatalf("Do: %v %+v", err, resp)
	}
	if got := b.Received("0201"); len(got) != 1 {
		t.Fatalf("next node got %d repeats, want 1", len(got))
	}
	var echoes int
	sawRequest := false
	for _, m := range a.Received() {
		sawRequest = sawRequest || m.MTI == "0200"
		if sawRequest && m.MTI == "0800" {
			echoes++
		}
	}
	if echoes != 1 {
		t.Fatalf("silent node got %d echoes after the request, want 1 probe", echoes)
	}
	if st := c.Stats(); st.Timeouts != 0 {
		t.Fatalf("%d attempt timeouts: the probe should have ended the wait", st.Timeouts)
	}
}
