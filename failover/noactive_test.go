package failover

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// knowsNoActive is a node cut off from its peers: it answers echoes and
// sign-ons, but relays nothing (NP) and says it knows no active (NA).
func knowsNoActive(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
	if m.MTI == "0800" {
		r := f.Reply(m, wire.RCApproved)
		r.Private.Set(wire.TagNoActive, "1")
		return r, false, 0
	}
	r := f.Reply(m, wire.RCIssuerInoperative)
	r.Private.Set("NP", "1")
	r.Private.Set(wire.TagNoActive, "1")
	return r, false, 0
}

// TestNodeWithoutActiveIsLeft: the register's node (the old active, now cut
// off from its peers) knows no active; the register asks its other node,
// whose answers name the active, instead of resending to the same node
// until the partition heals (the fleet reported 0 failovers).
func TestNodeWithoutActiveIsLeft(t *testing.T) {
	active := newFake(t, approve)
	active.SetHint(active.Addr, 5)
	cutOff := newFake(t, knowsNoActive)
	c := open(t, testConfig(t, cutOff.Addr, active.Addr))
	for range 3 {
		resp, err := c.Do(context.Background(), purchase(100))
		if err != nil || resp.ResponseCode != wire.RCApproved {
			t.Fatalf("Do: %v %v", resp, err)
		}
	}
	if got := cutOff.Received("0200"); len(got) > 1 {
		t.Fatalf("the cut-off node got %d purchases, want at most the first (answered NP NA)", len(got))
	}
	if c.Active() != active.Addr {
		t.Fatalf("active %s, want %s", c.Active(), active.Addr)
	}
}

// TestSilentNodeWithoutActiveReleasesItsRequest: a request waits on the old
// active, which can no longer answer it (its successor is out of its
// sight); the silence probe's echo says it knows no active, and the
// request is repeated on the other node at once instead of after the
// attempt timeout.
func TestSilentNodeWithoutActiveReleasesItsRequest(t *testing.T) {
	active := newFake(t, approve)
	active.SetHint(active.Addr, 5)
	var cutOff *fakeNode
	cutOff = newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0800" && len(f.Received("0200")) > 0 {
			return knowsNoActive(f, m) // cut off since the purchase came
		}
		if m.MTI == "0800" {
			return f.Reply(m, wire.RCApproved), false, 0
		}
		return nil, false, 0 // the purchase waits for a successor
	})
	cfg := testConfig(t, cutOff.Addr, active.Addr)
	cfg.AttemptTimeout, cfg.Deadline, cfg.SilenceProbe = 5*time.Second, 10*time.Second, 50*time.Millisecond
	c := open(t, cfg)
	start := time.Now()
	resp, err := c.Do(context.Background(), purchase(100))
	if err != nil || resp.ResponseCode != wire.RCApproved {
		t.Fatalf("Do: %v %v", resp, err)
	}
	if reps := active.Received("0201"); len(reps) != 1 {
		t.Fatalf("the active got %d repeats, want 1", len(reps))
	}
	t.Logf("answered after %v (attempt timeout %v)", time.Since(start), cfg.AttemptTimeout)
	if c.Stats().Timeouts != 0 {
		t.Fatalf("%d attempt timeouts: the request waited out the dead end", c.Stats().Timeouts)
	}
}

// TestLostActiveTriedLast: the register loses its link to the active (it
// went silent: cut off from the registers only), and the standby that now
// relays names that same active in every answer. The register keeps
// using the standby instead of dialling the lost active first for every
// request (each dial waiting out the dial timeout), and goes back to the
// active once it answers again.
func TestLostActiveTriedLast(t *testing.T) {
	var silent atomic.Bool
	active := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if silent.Load() {
			return nil, false, 0
		}
		return approve(f, m)
	})
	standby := newFake(t, approve)
	active.SetHint(active.Addr, 1)
	standby.SetHint(active.Addr, 1) // a standby's relayed answers carry the active's hints
	cfg := testConfig(t, active.Addr, standby.Addr)
	cfg.SilenceProbe, cfg.DialTimeout = 50*time.Millisecond, time.Second
	c := open(t, cfg)
	if _, err := c.Do(context.Background(), purchase(100)); err != nil {
		t.Fatal(err)
	}
	silent.Store(true)
	signOns := len(active.Received("0800"))
	for range 5 {
		if resp, err := c.Do(context.Background(), purchase(100)); err != nil || resp.ResponseCode != wire.RCApproved {
			t.Fatalf("Do while the active is silent: %v %v", resp, err)
		}
	}
	if n := len(active.Received("0800")) - signOns; n > 1 {
		t.Fatalf("the lost active got %d more sign-ons/echoes while the standby served: dialled first again and again", n)
	}
	silent.Store(false)
	eventually(t, "the register back on the active", func() bool {
		_, _ = c.Do(context.Background(), purchase(100))
		return len(active.Received("0200")) > 1+5
	})
}
