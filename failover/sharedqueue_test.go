package failover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

func openShared(t *testing.T, path string) *SharedQueue {
	t.Helper()
	s, err := OpenSharedQueue(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sharedConfig(t *testing.T, s *SharedQueue, name string, nodes ...string) Config {
	cfg := testConfig(t, nodes...)
	cfg.SharedQueue, cfg.ReversalQueue = s, name
	return cfg
}

// TestSharedQueueCrashMidRequest: the fleet's process dies while a
// register's purchase is on the wire. The journal as it was then (the page
// cache keeps what was written) holds the reversal written ahead: the
// register, reopened on it, reports it due and delivers it.
func TestSharedQueueCrashMidRequest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queues")
	s := openShared(t, path)
	var disk atomic.Value
	a := newFake(t, func(f *fakeNode, m *wire.Message) (*wire.Message, bool, time.Duration) {
		if m.MTI == "0200" {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
			}
			crashed := filepath.Join(dir, "at-crash")
			if err := os.WriteFile(crashed, b, 0o600); err != nil {
				t.Error(err)
			}
			disk.Store(crashed)
			return nil, true, 0
		}
		return f.Reply(m, wire.RCApproved), false, 0
	})
	cfg := sharedConfig(t, s, "reg1", a.Addr)
	cfg.Deadline = 300 * time.Millisecond
	c := open(t, cfg)
	req := purchase(910)
	_, _ = c.Do(context.Background(), req)

	b := newFake(t, approve)
	rec := &recorder{}
	cfg2 := sharedConfig(t, openShared(t, disk.Load().(string)), "reg1", b.Addr)
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
}

// TestSharedQueueFleet: registers sharing one queue file, concurrently:
// answered requests leave nothing; each register's unknown outcome stays
// in its own queue across a clean close and reopen of clients and file,
// reported once; the STAN sequences go on after their reserved blocks.
func TestSharedQueueFleet(t *testing.T) {
	const n = 8
	path := filepath.Join(t.TempDir(), "queues")
	s := openShared(t, path)
	ok := newFake(t, approve)
	silent := newFake(t, echoOnly)
	clients := make([]*Client, n)
	stans := make([]int, n)
	for i := range clients {
		cfg := sharedConfig(t, s, fmt.Sprintf("reg%d", i), ok.Addr)
		cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
		if i%2 == 1 {
			cfg.Nodes = []string{silent.Addr}
		}
		c, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	if _, err := Open(sharedConfig(t, s, "reg0", ok.Addr)); !errors.Is(err, ErrConfig) {
		t.Fatalf("a second client on one register's queue: %v", err)
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			rounds := 20
			if i%2 == 1 {
				rounds = 1
			}
			for range rounds {
				req := fleetRequest(c, i, "000000")
				resp, err := c.Do(context.Background(), req)
				switch {
				case i%2 == 0 && (err != nil || resp.ResponseCode != wire.RCApproved):
					t.Errorf("register %d: %v %v", i, resp, err)
				case i%2 == 1 && !errors.Is(err, ErrOutcomeUnknown):
					t.Errorf("register %d: %v, want the outcome unknown", i, err)
				}
			}
			stans[i] = atoi(t, c.NextSTAN())
		})
	}
	wg.Wait()
	for _, c := range clients {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openShared(t, path)
	for i := range clients {
		rec := &recorder{}
		cfg := sharedConfig(t, s2, fmt.Sprintf("reg%d", i), silent.Addr)
		cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
		cfg.OnEvent = rec.add
		c := open(t, cfg)
		want := i % 2
		if q := queued(t, c); len(q) != want || rec.count(EventReversalQueued, nil) != 0 {
			t.Fatalf("register %d reopened: %d entries, %d queued events; want %d and 0", i, len(q), rec.count(EventReversalQueued, nil), want)
		}
		if d := stanDistance(uint32(stans[i]), uint32(atoi(t, c.NextSTAN()))); d == 0 || d > stanBlock {
			t.Fatalf("register %d: STAN %d after %d", i, atoi(t, c.NextSTAN()), stans[i])
		}
	}
}

// TestSharedQueueTornTail: a crash mid-write leaves part of a record at
// the journal's end; Open drops it and keeps everything before it. The
// index refuses a second entry of one identity and leaves held ones to
// their Do.
func TestSharedQueueTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queues")
	s, err := OpenSharedQueue(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.store("r")
	if err != nil {
		t.Fatal(err)
	}
	q := newQueue(st)
	var es []*entry
	for i := range 3 {
		e := &entry{Msg: Reversal(purchase(int64(i)), pad6(uint32(100+i)), "1203120000"), Of: pad6(uint32(i))}
		if err := q.add(e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	if err := q.add(&entry{Msg: es[1].Msg, Of: "again"}); !errors.Is(err, errQueuedAlready) {
		t.Fatalf("a second entry of one identity: %v", err)
	}
	held := &entry{Msg: Reversal(purchase(7), "000777", "1203120000"), Held: true}
	if err := q.add(held); err != nil {
		t.Fatal(err)
	}
	if got, err := q.removeDue(held.Msg.Key()); err != nil || got != nil {
		t.Fatalf("removeDue took a held entry: %v %v", got, err)
	}
	if got, err := q.removeDue(es[0].Msg.Key()); err != nil || got == nil || got.ID != es[0].ID || got.Of != es[0].Of {
		t.Fatalf("removeDue: %+v %v", got, err)
	}
	full, _ := os.ReadFile(path)
	if err := q.add(&entry{Msg: Reversal(purchase(8), "000888", "1203120000")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, b[:len(full)+(len(b)-len(full))/2], 0o600); err != nil {
		t.Fatal(err)
	}

	s2 := openShared(t, path)
	st2, err := s2.store("r")
	if err != nil {
		t.Fatal(err)
	}
	got, err := newQueue(st2).all()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != es[1].ID || got[1].ID != es[2].ID || got[2].ID != held.ID || !got[2].Held {
		t.Fatalf("after the torn record: %+v", got)
	}
	q2 := newQueue(st2)
	if err := q2.add(&entry{Msg: Reversal(purchase(9), "000999", "1203120000")}); err != nil {
		t.Fatal(err)
	}
	if all, _ := q2.all(); len(all) != 4 || all[3].ID <= held.ID {
		t.Fatalf("a new entry after reopening: %+v", all)
	}
}

// TestSharedQueueWriteFails: once a write fails, that change and every
// later one fail, and memory stays what the file holds: a removal that
// failed leaves its entry queued, an add that failed leaves nothing.
func TestSharedQueueWriteFails(t *testing.T) {
	s := openShared(t, filepath.Join(t.TempDir(), "queues"))
	st, err := s.store("r")
	if err != nil {
		t.Fatal(err)
	}
	q := newQueue(st)
	e := &entry{Msg: Reversal(purchase(1), "000101", "1203120000")}
	if err := q.add(e); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.f.Close() // the disk is gone
	s.mu.Unlock()
	if found, err := q.remove(e); err == nil {
		t.Fatalf("remove on a failed disk: found %v, no error", found)
	}
	if err := q.add(&entry{Msg: Reversal(purchase(2), "000102", "1203120000")}); err == nil {
		t.Fatal("add after a failed write: no error")
	}
	if all, _ := q.all(); len(all) != 1 || all[0].ID != e.ID {
		t.Fatalf("after the failures: %+v, want the first entry only", all)
	}
}
