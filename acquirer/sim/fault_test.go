package sim

import (
	"testing"
	"time"
)

func TestFaultLateDuplicateDrop(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	if err := s.SetFault(Fault{DropPercent: 101}); err == nil {
		t.Fatal("drop 101% accepted")
	}
	s.SetFault(Fault{Late: 300 * time.Millisecond})
	c.send(purchase("000001", 100))
	// Recorded before the answer leaves.
	waitFor(t, "late request recorded", func() bool { return len(mustTotals(t, s)) == 1 })
	if _, err := c.readFrame(100 * time.Millisecond); err == nil {
		t.Fatal("late answer came early")
	}
	if m := c.recv(); m.ResponseCode != "00" {
		t.Fatalf("late answer RC %s", m.ResponseCode)
	}

	s.SetFault(Fault{Duplicate: true})
	c.send(purchase("000002", 100))
	a, b := c.recv(), c.recv()
	if a.Key() != b.Key() || a.ResponseCode != b.ResponseCode {
		t.Fatalf("duplicate answers differ: %s/%s vs %s/%s", a.Key(), a.ResponseCode, b.Key(), b.ResponseCode)
	}

	s.SetFault(Fault{DropPercent: 100})
	c.send(purchase("000003", 100))
	if _, err := c.readFrame(200 * time.Millisecond); err == nil {
		t.Fatal("answer under drop 100%")
	}
	if got := mustTotals(t, s)[KindPurchase]; got.Count != 3 {
		t.Fatalf("dropped answer not recorded: %v", got)
	}

	s.SetFault(Fault{})
	s.Disconnect()
	if _, err := c.readFrame(2 * time.Second); err == nil {
		t.Fatal("connection still open after Disconnect")
	}
	if got := dial(t, s).roundTrip(purchase("000004", 100)); got.ResponseCode != "00" {
		t.Fatalf("after Disconnect: RC %s", got.ResponseCode)
	}
}
