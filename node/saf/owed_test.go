package saf

import (
	"context"
	"errors"
	"testing"

	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// TestSAFSenderReachesEntriesBehindAStuckPage: the sender reads the queue a
// page at a time; when every entry of the first page is skipped past (each
// failed SkipAfter times), the entries behind it are still sent. Before, it
// read only the first 1,024 entries and never saw the rest.
func TestSAFSenderReachesEntriesBehindAStuckPage(t *testing.T) {
	r := newSenderRig(t)
	r.s.page = 2
	for i := 1; i <= 5; i++ {
		r.unknown(i)
	}
	r.answer = func(m *wire.Message) (*wire.Message, error) {
		resp, _ := ack(m)
		if m.STAN == "900001" || m.STAN == "900002" {
			resp.ResponseCode = wire.RCSystemError // the first page never takes
		}
		return resp, nil
	}
	r.passes(func() bool { return len(r.queued()) == 2 })
	if q := r.queued(); q[0] != 1 || q[1] != 2 {
		t.Fatalf("queued %v, want only the two refused entries of the first page", q)
	}
}

// TestSAFResendAfterUncommittedAckIsARepeat: the acquirer acknowledged an
// entry but the ack did not commit (leadership moving); the entry is sent
// again, and must go as a repeat: the acquirer has it (a strict one
// refuses a second original as a duplicate transmission, 94). Found by
// the simulation (a leadership transfer away and back).
func TestSAFResendAfterUncommittedAckIsARepeat(t *testing.T) {
	r := newSenderRig(t)
	r.unknown(1)
	r.answer = ack
	commits := 0
	real := r.s.commit
	r.s.commit = func(ctx context.Context, cmd []byte) (any, error) {
		if commits++; commits == 1 {
			return nil, errors.New("not the leader: leadership transfer in progress")
		}
		return real(ctx, cmd)
	}
	r.passes(func() bool { return len(r.queued()) == 0 })
	if len(r.sent) != 2 || r.sent[0].MTI != "0420" || r.sent[1].MTI != "0421" {
		var mtis []string
		for _, m := range r.sent {
			mtis = append(mtis, m.MTI)
		}
		t.Fatalf("sent %v, want 0420 then its repeat 0421", mtis)
	}
}

// TestSAFReversalNotTakenAsDoneWhileTheOriginalMayArrive: a reversal
// answered "no such original" (25) soon after the original's attempt may
// have overtaken that attempt on another connection (the simulation found
// the late original standing, and with a stand-in's advice, the card
// charged twice): it stays owed and is sent again; once the acquirer has the
// original, it reverses it. A 25 after the late window is taken as done.
func TestSAFReversalNotTakenAsDoneWhileTheOriginalMayArrive(t *testing.T) {
	r := newSenderRig(t)
	id := r.unknown(1)
	arrived := false
	r.answer = func(m *wire.Message) (*wire.Message, error) {
		resp, _ := ack(m)
		if !arrived {
			resp.ResponseCode, arrived = upstream.RCNoOriginal, true // the original lands right after
		}
		return resp, nil
	}
	r.passes(func() bool { return len(r.queued()) == 0 })
	if len(r.sent) != 2 {
		t.Fatalf("sent %d times, want the 25 not taken and a second send", len(r.sent))
	}
	if tx, _, _ := r.f.cfg.State.Get(id); tx.Status != store.StatusReversed {
		t.Fatalf("%v after the reversal was taken", tx.Status)
	}

	// Long after the attempt, 25 means the acquirer never got it.
	r2 := newSenderRig(t)
	r2.s.late = 0 // every entry is past the window
	r2.unknown(1)
	r2.answer = func(m *wire.Message) (*wire.Message, error) {
		resp, _ := ack(m)
		resp.ResponseCode = upstream.RCNoOriginal
		return resp, nil
	}
	r2.passes(func() bool { return len(r2.queued()) == 0 })
	if len(r2.sent) != 1 {
		t.Fatalf("sent %d times, want the 25 taken at once past the late window", len(r2.sent))
	}
}

// TestOwedToAnUnconfiguredAcquirerShows: entries owed to an acquirer no
// longer in the config cannot be sent; they stay visible in the queue
// metrics instead of vanishing (and in /status: admin's test).
func TestOwedToAnUnconfiguredAcquirerShows(t *testing.T) {
	r := newSenderRig(t, "other")
	r.unknown(1) // owed to acq1, which this node does not configure
	stats, err := r.f.cfg.State.SAFStats()
	if err != nil {
		t.Fatal(err)
	}
	if names := r.f.names(stats); len(names) != 2 || names[0] != "acq1" || names[1] != "other" {
		t.Fatalf("metric names %v, want acq1 and other", names)
	}
}
