package bench

import (
	"testing"
	"time"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
)

// TestResumes: the time to resume is taken per register from the fault to
// its first answer to a financial request from a node that serves; the
// election is the first new term after the fault.
func TestResumes(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(reg, mti, node string, sent, ret int) history.Event {
		return history.Event{Kind: history.Request, Register: reg, MTI: mti, Outcome: history.Answered, Node: node,
			Invoke: at(sent).UnixNano(), Return: at(ret).UnixNano()}
	}
	events := []history.Event{
		ev("A", "0200", "n1", 900, 950),   // before the fault
		ev("A", "0200", "n1", 990, 1100),  // the cut-off node, before the heal: not served again
		ev("A", "0800", "n2", 1200, 1300), // an echo proves nothing
		ev("A", "0200", "n2", 1400, 3000), // resumed: 2 s after the fault
		ev("B", "0200", "n2", 1000, 1500), // resumed: 0.5 s, before the election
		ev("C", "0200", "n1", 1000, 6000), // the cut-off node once healed (5 s)
		{Kind: history.Request, Register: "D", MTI: "0200", Outcome: history.Unknown, Invoke: at(1000).UnixNano(), Return: at(4000).UnixNano()},
		ev("E", "0500", "n2", 9000, 9100), // batch totals after the load: no register of the run
	}
	leaders := []elected{{Term: 2, Leader: "n1", At: at(0)}, {Term: 3, Leader: "n2", At: at(2500)}, {Term: 4, Leader: "n2", At: at(8000)}}
	faults := []check.Fault{{Kind: "partition", Target: "n1", At: at(1000), End: at(5000)}}
	got := resumes(resumeInput{start: t0, end: at(7000), events: events, faults: faults,
		rules: []resumeRule{{Silent: "n1"}}, leaders: leaders})
	if len(got) != 1 {
		t.Fatalf("%d resumes", len(got))
	}
	r := got[0]
	if r.Registers != 3 || r.Resumed != 3 {
		t.Errorf("resumed %d of %d, want 3 of 3", r.Resumed, r.Registers)
	}
	if r.FromFault.P50 != 2*time.Second || r.FromFault.Max != 5*time.Second {
		t.Errorf("from the fault %+v", r.FromFault)
	}
	// Waited: A sent 400 ms after the fault and waited 1.6 s; B 0.5 s; C 5 s.
	if r.Waited.N != 3 || r.Waited.P50 != 1600*time.Millisecond || r.Waited.Max != 5*time.Second {
		t.Errorf("waited %+v", r.Waited)
	}
	// Term 4 is after the load: not counted.
	if r.Elections != 1 || r.Elected != 1500*time.Millisecond || r.Leader != "n2" {
		t.Errorf("elections %d, elected %v by %s", r.Elections, r.Elected, r.Leader)
	}
	if r.FromElection.N != 2 || r.FromElection.P50 != 500*time.Millisecond || r.FromElection.Max != 3500*time.Millisecond {
		t.Errorf("from the election %+v", r.FromElection)
	}
	if r.At != time.Second || r.Length != 4*time.Second {
		t.Errorf("at %v, length %v", r.At, r.Length)
	}
	if f, e := Pooled(append(got, got...)); f.N != 6 || f.Max != r.FromFault.Max || e.N != 4 || e.P50 != r.FromElection.P50 {
		t.Errorf("pooled %+v %+v", f, e)
	}
}

// TestResumeFresh: with a cut on the registers' own links, an answer to a
// request sent before the cut does not count.
func TestResumeFresh(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ms := func(n int) int64 { return t0.Add(time.Duration(n) * time.Millisecond).UnixNano() }
	events := []history.Event{
		{Kind: history.Request, Register: "A", MTI: "0200", Outcome: history.Answered, Node: "n1", Invoke: ms(900), Return: ms(1050)},
		{Kind: history.Request, Register: "A", MTI: "0200", Outcome: history.Answered, Node: "n1", Invoke: ms(1100), Return: ms(4000)},
	}
	f := []check.Fault{{Kind: "registers-cut", Target: "n1", At: t0.Add(time.Second), End: t0.Add(5 * time.Second)}}
	for _, tc := range []struct {
		rule resumeRule
		want time.Duration
	}{{resumeRule{}, 50 * time.Millisecond}, {resumeRule{Fresh: true}, 3 * time.Second}} {
		got := resumes(resumeInput{start: t0, end: t0.Add(time.Minute), events: events, faults: f, rules: []resumeRule{tc.rule}})
		if got[0].FromFault.Max != tc.want || got[0].Elections != 0 {
			t.Errorf("%+v: from the fault %v (elections %d), want %v", tc.rule, got[0].FromFault.Max, got[0].Elections, tc.want)
		}
	}
}
