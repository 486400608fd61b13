package sim

import (
	"reflect"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// standInAdviceOf is the 0220 a client's stand-in sends for orig, under its
// own STAN.
func standInAdviceOf(orig *wire.Message, stan string) *wire.Message {
	a := *orig
	a.MTI, a.STAN, a.TransmissionTime = "0220", stan, "0102030406"
	a.AuthCode, a.ResponseCode = "S00001", "00"
	a.OriginalData = orig.MTI + orig.STAN + orig.TransmissionTime + "0000000000000000000000"
	return &a
}

func TestStandInAdvice(t *testing.T) {
	s := mustOpen(t, Config{})
	c := dial(t, s)
	// Never seen here: the advice records the approval.
	if got := c.roundTrip(standInAdviceOf(purchase("000001", 1000), "500001")); got.MTI != "0230" || got.ResponseCode != "00" {
		t.Fatalf("advice answered %s %s", got.MTI, got.ResponseCode)
	}
	// Declined here (amount ending 51), then stood in: the advice wins.
	declined := purchase("000002", 2051)
	if got := c.roundTrip(declined); got.ResponseCode != "51" {
		t.Fatalf("RC %s", got.ResponseCode)
	}
	c.roundTrip(standInAdviceOf(declined, "500002"))
	// Approved here, then the advice (the answer was lost): no double.
	approved := purchase("000003", 300)
	c.roundTrip(approved)
	c.roundTrip(standInAdviceOf(approved, "500003"))
	// A repeat of an advice changes nothing.
	rep := standInAdviceOf(approved, "500003")
	rep.MTI = "0221"
	c.roundTrip(rep)
	want := map[string]Sum{KindPurchase: {Count: 3, Amount: 1000 + 2051 + 300}}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("totals %v, want %v", got, want)
	}
	// The original arriving after its advice is a duplicate.
	if got := c.roundTrip(purchase("000001", 1000)); got.ResponseCode != "00" {
		t.Fatalf("late original RC %s", got.ResponseCode)
	}
	if got := mustTotals(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("late original counted: %v", got)
	}
}

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
