package store

import (
	"errors"
	"reflect"
	"testing"
)

func mustTerminal(tb testing.TB, s *Store, id string) Terminal {
	tb.Helper()
	t, ok, err := s.Terminal(id)
	if err != nil || !ok {
		tb.Fatalf("terminal %s: found %v, %v", id, ok, err)
	}
	return t
}

func allTerminals(tb testing.TB, s *Store) []Terminal {
	tb.Helper()
	all, _, err := s.Terminals(TerminalQuery{})
	if err != nil {
		tb.Fatal(err)
	}
	return all
}

func TestTerminalsAddRecords(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	r := l.apply(TerminalsAddCmd(testEpoch,
		TerminalRange{From: "T0000008", To: "T0000012", Merchant: testMerchant, Store: "store-1"},
		TerminalRange{From: "TERM0001", Merchant: "MERCHANT0000002", Store: "store-2"}))
	if r.Err != nil || *r.Terminals != (TerminalChange{Added: 6}) {
		t.Fatalf("add: %+v %v", r.Terminals, r.Err)
	}
	got, next, err := s.Terminals(TerminalQuery{})
	if err != nil || next != "" {
		t.Fatal(next, err)
	}
	var ids []string
	for _, x := range got {
		ids = append(ids, x.ID)
	}
	if want := []string{"T0000008", "T0000009", "T0000010", "T0000011", "T0000012", "TERM0001"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	want := Terminal{ID: "T0000010", Merchant: testMerchant, Store: "store-1", Added: testEpoch, Changed: testEpoch}
	if got := mustTerminal(t, s, "T0000010"); got != want {
		t.Fatalf("record %+v, want %+v", got, want)
	}
	if _, ok, err := s.Terminal("T0000013"); ok || err != nil {
		t.Fatalf("T0000013 registered: %v %v", ok, err)
	}
	// Pages and filters.
	page, next, err := s.Terminals(TerminalQuery{Limit: 2, Store: "store-1", After: "T0000008"})
	if err != nil || len(page) != 2 || page[0].ID != "T0000009" || page[1].ID != "T0000010" || next != "T0000010" {
		t.Fatalf("page %+v next %q %v", page, next, err)
	}
	page, _, _ = s.Terminals(TerminalQuery{Merchant: "MERCHANT0000002"})
	if len(page) != 1 || page[0].ID != "TERM0001" {
		t.Fatalf("merchant filter %+v", page)
	}
}

func TestTerminalsAddIdempotentAndChange(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	add := TerminalRange{From: "T0000001", To: "T0000003", Merchant: testMerchant, Store: "store-1"}
	l.apply(TerminalsAddCmd(testEpoch, add))
	if r := l.apply(TerminalsBlockCmd(TerminalRange{From: "T0000002"}, true, testEpoch+1)); r.Err != nil || *r.Terminals != (TerminalChange{Changed: 1}) {
		t.Fatalf("block: %+v %v", r.Terminals, r.Err)
	}
	before := allTerminals(t, s)
	// The same add again changes nothing, not even the times.
	if r := l.apply(TerminalsAddCmd(testEpoch+2, add)); r.Err != nil || *r.Terminals != (TerminalChange{Unchanged: 3}) {
		t.Fatalf("re-add: %+v %v", r.Terminals, r.Err)
	}
	if !reflect.DeepEqual(allTerminals(t, s), before) {
		t.Fatal("an identical re-add changed the registry")
	}
	// A new store moves the terminal and keeps its block and Added.
	moved := TerminalRange{From: "T0000002", Merchant: testMerchant, Store: "store-9"}
	if r := l.apply(TerminalsAddCmd(testEpoch+3, moved)); r.Err != nil || *r.Terminals != (TerminalChange{Changed: 1}) {
		t.Fatalf("move: %+v %v", r.Terminals, r.Err)
	}
	want := Terminal{ID: "T0000002", Merchant: testMerchant, Store: "store-9", Blocked: true, Added: testEpoch, Changed: testEpoch + 3}
	if got := mustTerminal(t, s, "T0000002"); got != want {
		t.Fatalf("moved %+v, want %+v", got, want)
	}
	// Unblock: only the blocked one changes.
	r := l.apply(TerminalsBlockCmd(TerminalRange{From: "T0000001", To: "T0000003"}, false, testEpoch+4))
	if r.Err != nil || *r.Terminals != (TerminalChange{Changed: 1, Unchanged: 2}) {
		t.Fatalf("unblock: %+v %v", r.Terminals, r.Err)
	}
	if got := mustTerminal(t, s, "T0000002"); got.Blocked || got.Changed != testEpoch+4 {
		t.Fatalf("unblocked %+v", got)
	}
}

func TestTerminalsRefused(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.apply(TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000001", Merchant: testMerchant, Store: "s"}))
	before := allTerminals(t, s)
	for name, c := range map[string]struct {
		cmd  []byte
		want error
	}{
		"short id":        {TerminalsAddCmd(testEpoch, TerminalRange{From: "T001", Merchant: testMerchant, Store: "s"}), ErrInvalid},
		"short merchant":  {TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000002", Merchant: "M1", Store: "s"}), ErrInvalid},
		"no store":        {TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000002", Merchant: testMerchant}), ErrInvalid},
		"separator":       {TerminalsAddCmd(testEpoch, TerminalRange{From: "T000|002", Merchant: testMerchant, Store: "s"}), ErrInvalid},
		"prefixes differ": {TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000002", To: "U0000009", Merchant: testMerchant, Store: "s"}), ErrInvalid},
		"backwards":       {TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000009", To: "T0000002", Merchant: testMerchant, Store: "s"}), ErrInvalid},
		"too many":        {TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000000", To: "T0099999", Merchant: testMerchant, Store: "s"}), ErrInvalid},
		"too many in all": {TerminalsAddCmd(testEpoch, TerminalRange{From: "A0000000", To: "A0015000", Merchant: testMerchant, Store: "s"}, TerminalRange{From: "B0000000", To: "B0015000", Merchant: testMerchant, Store: "s"}), ErrInvalid},
		"none":            {TerminalsAddCmd(testEpoch), ErrInvalid},
		"block unknown":   {TerminalsBlockCmd(TerminalRange{From: "T0000002", To: "T0000009"}, true, testEpoch), ErrTerminalNotFound},
	} {
		if r := l.apply(c.cmd); !errors.Is(r.Err, c.want) {
			t.Errorf("%s: %v, want %v", name, r.Err, c.want)
		}
	}
	if !reflect.DeepEqual(allTerminals(t, s), before) {
		t.Fatal("a refused command changed the registry")
	}
}

// TestTerminalsTravel: the registry is in snapshots (and so in backups),
// and replays the same on every replica.
func TestTerminalsTravel(t *testing.T) {
	a, b := mustOpen(t, true), mustOpen(t, true)
	cmds := [][]byte{
		TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000001", To: "T0002000", Merchant: testMerchant, Store: "store-1"}),
		TerminalsBlockCmd(TerminalRange{From: "T0000007"}, true, testEpoch+1),
	}
	for _, s := range []*Store{a, b} {
		l := newLog(t, s)
		for _, c := range cmds {
			if r := l.apply(c); r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	if string(mustHash(t, a)) != string(mustHash(t, b)) {
		t.Fatal("two replicas of one log differ")
	}
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	c := mustOpen(t, true)
	if err := c.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got := mustTerminal(t, c, "T0000007"); !got.Blocked || got.Store != "store-1" {
		t.Fatalf("restored %+v", got)
	}
	all, _, err := c.Terminals(TerminalQuery{})
	if err != nil || len(all) != 2000 {
		t.Fatalf("restored %d terminals, %v", len(all), err)
	}
}

func TestTerminalRangeIDs(t *testing.T) {
	ids, err := TerminalRange{From: "REG00098", To: "REG00101"}.IDs()
	if err != nil || !reflect.DeepEqual(ids, []string{"REG00098", "REG00099", "REG00100", "REG00101"}) {
		t.Fatalf("%v %v", ids, err)
	}
	ids, err = TerminalRange{From: "ABCDEFGH"}.IDs()
	if err != nil || !reflect.DeepEqual(ids, []string{"ABCDEFGH"}) {
		t.Fatalf("%v %v", ids, err)
	}
	if _, err := (TerminalRange{From: "ABCDEFGH", To: "ABCDEFGI"}).IDs(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("range without digits: %v", err)
	}
}

// BenchmarkTerminalLookup is the registry's cost on every admitted
// request: one read transaction, one key, in a registry of 20,000.
func BenchmarkTerminalLookup(b *testing.B) {
	s := mustOpen(b, true)
	newLog(b, s).apply(TerminalsAddCmd(testEpoch, TerminalRange{From: "T0000000", To: "T0019999", Merchant: testMerchant, Store: "s"}))
	ids, _ := TerminalRange{From: "T0000000", To: "T0019999"}.IDs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok, err := s.Terminal(ids[i%len(ids)]); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
