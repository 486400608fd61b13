package simulation

import (
	"strings"
	"testing"

	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
)

func answered(mti, id, rc, auth, de90 string) history.Event {
	return history.Event{Kind: history.Request, Register: id[:8], ID: id, MTI: mti, Amount: 100, Original: de90,
		Outcome: history.Answered, RC: rc, AuthCode: auth}
}

// TestAggregateChecks: what a register holds against two nodes' records.
func TestAggregateChecks(t *testing.T) {
	const (
		held     = "S00000010000011203100000"
		wrong    = "S00000010000021203100000"
		reversed = "S00000010000031203100000"
		dropped  = "S00000010000041203100000"
		declined = "S00000010000071203100000"
	)
	events := []history.Event{
		answered("0200", held, "00", "111111", ""),
		answered("0200", held, "00", "111111", ""), // a repeat, same answer
		answered("0200", wrong, "00", "222222", ""),
		answered("0200", wrong, "00", "999999", ""), // a repeat, another answer: I2
		answered("0200", reversed, "00", "333333", ""),
		answered("0400", "S00000010000051203100000", "00", "", "0200000003"+"1203100000"+zeros22),
		answered("0200", dropped, "00", "444444", ""),
		{Kind: history.Acked, Register: "S0000001", ID: "S00000010000061203100000", MTI: "0400", RC: "91",
			Of: dropped, Original: "0200000004" + "1203100000" + zeros22},
		answered("0200", declined, "96", "", ""),
	}
	txns := map[string]adminapi.Txn{
		held:     {ID: held, Status: "approved", AuthCode: "111111", Amount: 100},
		wrong:    {ID: wrong, Status: "approved", AuthCode: "222222", Amount: 100},
		reversed: {ID: reversed, Status: "approved", AuthCode: "333333", Amount: 100}, // I3
		dropped:  {ID: dropped, Status: "approved", AuthCode: "444444", Amount: 100},  // I1: path 1
		declined: {ID: declined, Status: "approved", AuthCode: "555555", Amount: 100}, // I2: path 2
	}
	nodes := []nodeState{{id: "node1", txns: txns}, {id: "node2", txns: map[string]adminapi.Txn{held: txns[held]}}}
	got := append(checkRepeats(events), checkHeld(nodes, viewOf(events))...)
	want := []string{
		"I2 " + wrong,
		"I1 " + wrong + ": its register holds 00 auth \"222222\" amount 100; node2 has no such transaction",
		"I2 " + declined + ": its register was answered rc 96, yet it is approved on node1",
		"I3 " + reversed,
		"I1 " + dropped,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d violations, want %d: %+v", len(got), len(want), got)
	}
	for i, v := range got {
		if line := v.Invariant + " " + v.ID + ": " + v.Detail; !strings.HasPrefix(line, want[i]) {
			t.Errorf("violation %d: %s\nwant prefix %s", i, line, want[i])
		}
	}
}
