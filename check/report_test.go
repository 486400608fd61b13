package check

import (
	"strings"
	"testing"

	"github.com/tillgate/tillgate/history"
)

func TestReportPass(t *testing.T) {
	w := newWorld()
	w.approved("0200", "000000", 1234)
	s := Run(w.input()).String()
	want := "check PASS: 1 identities (1 approved, 0 declined, 0 unknown, 0 not sent; 0 reversed), 3 nodes, 1 acquirer records, 0 faults injected; 0 violations\n"
	if s != want {
		t.Fatalf("report\n%q\nwant\n%q", s, want)
	}
}

// TestReportShowsTheFirstViolationsInFull: an operator reads what each
// node and the acquirer hold and the identity's history, for the first
// ten; the rest are counted.
func TestReportShowsTheFirstViolationsInFull(t *testing.T) {
	w := newWorld()
	for range 12 {
		w.approved("0200", "000000", 1234)
	}
	w.perNode[1] = func(n *Node) { n.Txns = nil } // 12 I1 + 12 I7 + one I4
	w.faults = []Fault{{Kind: "leader-stop", Target: "n2", At: timeAt(t0), End: timeAt(t0 + 1000*tickNs)}}
	s := Run(w.input()).String()
	for _, want := range []string{
		"check FAIL: 12 identities",
		"25 violations (I1 12, I4 1, I7 12)",
		"violation 1 of 25: I1 T00000010000011203101112\n  the register holds 00 (auth A00001) but there is no such transaction on node n2\n",
		"  | node n2: no transaction\n",
		`  | acquirer 0200T00000010005011203101113: 0200 purchase amount 1234 rc "00" auth "A00001"`,
		"  history (2026-12-03 UTC):\n    12:13:20.001000 request 0200 T00000010000011203101112 de3 000000 de4 1234 -> answered rc 00 auth A00001 rrn RRN000001 node n1 after 1ms\n",
		"  during fault: leader-stop n2 at 12:13:20.000000 until 12:13:21.000000\n",
		"violation 10 of 25",
		"... and 15 more violations",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(s, "violation 11 of") {
		t.Error("report prints more than 10 violations in full")
	}
	if t.Failed() {
		t.Log(s)
	}
}

func TestFormatEvent(t *testing.T) {
	for _, tc := range []struct {
		e    history.Event
		want string
	}{
		{history.Event{Kind: history.Queued, Register: term1, ID: "T00000010000021203101112", MTI: "0400", Amount: 50,
			Original: de90("0200", "T00000010000011203101112"), Of: "T00000010000011203101112", Invoke: t0},
			"12:13:20.000000 queued  0400 T00000010000021203101112 de4 50 names 0200 T00000010000011203101112"},
		{history.Event{Kind: history.Acked, ID: "T00000010000021203101112", MTI: "0400", Of: "T00000010000021203101112", RC: "00", Invoke: t0},
			"12:13:20.000000 acked   0400 T00000010000021203101112 rc 00"},
		{history.Event{Kind: history.Request, ID: "T00000010000031203101112", MTI: "0200", ProcCode: "000000", Amount: 7,
			Outcome: history.Unknown, Invoke: t0, Return: t0 + 30_000_000_000},
			"12:13:20.000000 request 0200 T00000010000031203101112 de3 000000 de4 7 -> unknown after 30s"},
	} {
		if got := FormatEvent(tc.e); got != tc.want {
			t.Errorf("FormatEvent\n got %q\nwant %q", got, tc.want)
		}
	}
}
