package failover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// mustQueue is the queue kept in st, sealing with seal.
func mustQueue(t *testing.T, st store, seal *sealer) *queue {
	t.Helper()
	q, err := newQueue(st, seal)
	if err != nil {
		t.Fatal(err)
	}
	return q
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
	q := mustQueue(t, st, nil)
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
	got, err := mustQueue(t, st2, nil).all()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != es[1].ID || got[1].ID != es[2].ID || got[2].ID != held.ID || !got[2].Held {
		t.Fatalf("after the torn record: %+v", got)
	}
	q2 := mustQueue(t, st2, nil)
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
	q := mustQueue(t, st, nil)
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

// TestSharedQueueKeepsNoClearCardData: registers of a fleet queue advices
// and purchases carrying DE2, DE35, DE52 and DE55 whose outcome stays
// unknown; the shared journal holds none of that card data in any form,
// neither while they run nor after the snapshot of a reopen, only the two
// 0120s' cards sealed. Reopened with their keys, the registers deliver the
// 0120s with their card; without its key, or with another, a register's
// queue does not open; a register with no key refuses an 0120 naming a
// card, as one with its own file does.
func TestSharedQueueKeepsNoClearCardData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queues")
	s := openShared(t, path)
	silent := newFake(t, echoOnly)
	var cfgs []Config
	for i := range 2 {
		cfg := sharedConfig(t, s, fmt.Sprintf("reg%d", i), silent.Addr)
		cfg.Deadline, cfg.AttemptTimeout = 300*time.Millisecond, 100*time.Millisecond
		cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
		c := open(t, cfg)
		for _, req := range []*wire.Message{
			withCard(advice(wire.MTIAuthAdvice), i == 0), // register 1: the PAN from track 2
			withCard(advice(wire.MTIFinancialAdvice), true),
			withCard(purchase(500), false),
		} {
			if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrOutcomeUnknown) {
				t.Fatalf("%s: %v, want an unknown outcome", req.MTI, err)
			}
		}
		if found := cardDataIn(t, path); len(found) != 0 {
			t.Fatalf("register %d running: the journal holds clear %v", i, found)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte(`"card":"`)); n < 2 {
		t.Fatalf("%d records of a sealed card in the journal, want the two 0120s' at least", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openShared(t, path) // replayed and snapshot
	if found := cardDataIn(t, path); len(found) != 0 {
		t.Fatalf("after the snapshot the journal holds clear %v", found)
	}
	bare := cfgs[0]
	bare.SharedQueue, bare.QueueKeyFile = s2, ""
	if _, err := Open(bare); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("sealed entries, no key: %v", err)
	}
	other := cfgs[0]
	other.SharedQueue, other.QueueKeyFile = s2, cfgs[1].QueueKeyFile
	if _, err := Open(other); err == nil || !strings.Contains(err.Error(), "does not open with the queue key") {
		t.Fatalf("sealed entries, another key: %v", err)
	}

	node := newFake(t, approve)
	for i, cfg := range cfgs {
		cfg.SharedQueue, cfg.Nodes = s2, []string{node.Addr}
		cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = 50*time.Millisecond, 200*time.Millisecond
		rec := &recorder{}
		cfg.OnEvent = rec.add
		c := open(t, cfg)
		eventually(t, fmt.Sprintf("register %d: all three acknowledged", i), func() bool { return rec.count(EventReversalAcked, nil) == 3 })
		c.Close()
	}
	got := node.Received("0121", "0221", "0400", "0401")
	if len(got) != 6 {
		t.Fatalf("node got %d, want 6", len(got))
	}
	for _, m := range got {
		want := map[string]string{"0121": testPAN}[m.MTI]
		if m.PAN != want || m.Track2 != "" || m.PINBlock != nil || m.ICC != nil || m.Expiry != "" {
			t.Fatalf("%s delivered with DE2 %q DE35 %q DE52 %x DE55 %x; want DE2 %q and no other card data",
				m.MTI, m.PAN, m.Track2, m.PINBlock, m.ICC, want)
		}
	}

	noKey := sharedConfig(t, s2, "reg9", node.Addr)
	noKey.QueueKeyFile = ""
	c := open(t, noKey)
	if _, err := c.Do(context.Background(), withCard(advice(wire.MTIAuthAdvice), true)); !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "QueueKeyFile") {
		t.Fatalf("0120 without a queue key: %v", err)
	}
	if len(node.Received("0120")) != 0 {
		t.Fatal("the refused 0120 was sent")
	}
	c.Close()
	if found := cardDataIn(t, path); len(found) != 0 {
		t.Fatalf("at the end the journal holds clear %v", found)
	}
}
