package check

import (
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/tillgate/tillgate/history"
)

// Hand-built operations of one identity "X" for the model.
func auth(call, ret int64, rc, code string) porcupine.Operation {
	return porcupine.Operation{Input: linIn{"X", opAuth, ""}, Call: call, Return: ret, Output: linOut{rc: rc, auth: code}}
}

func authMaybe(call int64) porcupine.Operation {
	return porcupine.Operation{Input: linIn{"X", opAuthMaybe, ""}, Call: call, Return: 100, Output: linOut{}}
}

func rev(call, ret int64) porcupine.Operation {
	return porcupine.Operation{Input: linIn{"X", opReverse, ""}, Call: call, Return: ret, Output: linOut{}}
}

func revMaybe(call int64) porcupine.Operation {
	return porcupine.Operation{Input: linIn{"X", opReverseMaybe, ""}, Call: call, Return: 100, Output: linOut{}}
}

// read is a final state, after everything (time 101).
func read(who string, approved bool, code string) porcupine.Operation {
	return porcupine.Operation{Input: linIn{"X", opRead, who}, Call: 101, Return: 101, Output: linOut{approved: approved, auth: code}}
}

func TestLinearModel(t *testing.T) {
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"approval, repeat gets it", []porcupine.Operation{auth(1, 2, "00", "A1"), auth(3, 4, "00", "A1"), read("n1", true, "A1")}, porcupine.Ok},
		{"a repeat answered with another auth code", []porcupine.Operation{auth(1, 2, "00", "A1"), auth(3, 4, "00", "A2")}, porcupine.Illegal},
		{"a repeat answered 05 after 00", []porcupine.Operation{auth(1, 2, "00", "A1"), auth(3, 4, "05", "")}, porcupine.Illegal},
		{"concurrent requests, one answer", []porcupine.Operation{auth(1, 5, "00", "A1"), auth(2, 4, "00", "A1")}, porcupine.Ok},
		{"queue ack carries no DE38", []porcupine.Operation{auth(1, 2, "00", "A1"), auth(3, 4, "00", "")}, porcupine.Ok},
		{"no answer, repeat answered, end approved", []porcupine.Operation{authMaybe(1), auth(5, 6, "00", "A1"), read("n1", true, "A1")}, porcupine.Ok},
		{"reversed after approval, end approved", []porcupine.Operation{auth(1, 2, "00", "A1"), rev(3, 4), read("n1", true, "A1")}, porcupine.Illegal},
		{"reversed after approval, end nets zero", []porcupine.Operation{auth(1, 2, "00", "A1"), rev(3, 4), read("n1", false, ""), read("acquirer", false, "")}, porcupine.Ok},
		{"a repeat after the reversal still gets 00", []porcupine.Operation{auth(1, 2, "00", "A1"), rev(3, 4), auth(5, 6, "00", "A1"), read("n1", false, "")}, porcupine.Ok},
		{"approved after its reversal was acknowledged", []porcupine.Operation{rev(1, 2), auth(3, 4, "00", "A1")}, porcupine.Illegal},
		{"reversal concurrent with the approval", []porcupine.Operation{rev(1, 4), auth(2, 3, "00", "A1"), read("n1", false, "")}, porcupine.Ok},
		{"reversal first, original declined", []porcupine.Operation{rev(1, 2), auth(3, 4, "05", ""), read("n1", false, "")}, porcupine.Ok},
		{"no answer after an acknowledged reversal, end approved", []porcupine.Operation{rev(1, 2), authMaybe(3), read("n1", true, "A1")}, porcupine.Illegal},
		{"nothing took effect, end approved", []porcupine.Operation{read("n1", true, "A1")}, porcupine.Illegal},
		{"no answer, reversal unacknowledged, end approved", []porcupine.Operation{authMaybe(1), revMaybe(3), read("n1", true, "A1")}, porcupine.Ok},
		{"no answer, end states disagree", []porcupine.Operation{authMaybe(1), read("n1", true, "A1"), read("acquirer", false, "")}, porcupine.Illegal},
		{"end states disagree on DE38", []porcupine.Operation{authMaybe(1), read("n1", true, "A1"), read("acquirer", true, "A2")}, porcupine.Illegal},
		{"decline, end declined everywhere", []porcupine.Operation{auth(1, 2, "51", ""), read("n1", false, ""), read("acquirer", false, "")}, porcupine.Ok},
		{"decline, end approved", []porcupine.Operation{auth(1, 2, "96", ""), read("n1", true, "A1")}, porcupine.Illegal},
	}
	model := linModel()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(model, tc.ops, linOneTimeout); got != tc.want {
				t.Fatalf("porcupine says %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLinearChunksNameTheCulprit: identities are checked in chunks; a
// failing chunk is rechecked one by one, so exactly the bad identity is
// named, whichever chunk it is in.
func TestLinearChunksNameTheCulprit(t *testing.T) {
	w := newWorld()
	var bad string
	for i := range linChunk + 50 {
		id, _ := w.approved("0200", "000000", int64(100+i))
		if i == linChunk+10 {
			bad = id
			w.request(id, "0200", "000000", int64(100+i), "", history.Answered, "00", "Q00000")
		}
	}
	r := Run(w.input())
	var i7 []string
	for _, v := range r.Violations {
		if v.Invariant == I7 {
			i7 = append(i7, v.ID)
		}
	}
	if len(i7) != 1 || i7[0] != bad {
		t.Fatalf("I7 violations %v, want only %s\n%s", i7, bad, r)
	}
}

// TestLinearOpsFromHistory: the operations built from a history are the
// ones the model needs (no answer may take effect until the end; reads
// come after everything).
func TestLinearOpsFromHistory(t *testing.T) {
	w := newWorld()
	unknownReversed(w)
	c := newChecker(w.input())
	ops := c.linOps(c.order[0])
	kinds := map[opKind]int{}
	var last int64
	for _, op := range ops {
		in := op.Input.(linIn)
		kinds[in.kind]++
		if in.kind != opRead {
			last = max(last, op.Return)
		}
	}
	if kinds[opAuthMaybe] != 1 || kinds[opReverse] != 1 || kinds[opRead] != 4 || kinds[opAuth] != 0 {
		t.Fatalf("ops %+v", ops)
	}
	for _, op := range ops {
		if op.Input.(linIn).kind == opRead && op.Call <= last {
			t.Fatalf("read at %d not after every other operation (last %d)", op.Call, last)
		}
	}
}
