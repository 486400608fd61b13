package bench

import (
	"context"
	"slices"
	"time"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// Resume is how the registers came back after one fault injected, read
// from their history: the time from the fault (the cut, the kill, the
// disk filling up) to each register's first answer to a financial request
// (echoes prove nothing: any node answers them) from a node that serves
// (not the one the fault silenced, until the fault ends), and the time
// from the first leader elected after the fault to those answers.
type Resume struct {
	Kind   string        `json:"kind"`
	Target string        `json:"target"`
	At     time.Duration `json:"at_ns"`               // since the start of the load
	Length time.Duration `json:"length_ns,omitempty"` // until healed, restarted or resumed
	// Resumed of Registers (those with any answer in the run).
	Registers int    `json:"registers"`
	Resumed   int    `json:"resumed"`
	FromFault Spread `json:"from_fault"`
	// Elections are the leaders elected (new terms with a leader) from the
	// fault to the next fault or the end of the load.
	Elections int `json:"elections"`
	// Elected is when the first of them was elected, since the fault (0:
	// no election); Leader is who.
	Elected time.Duration `json:"elected_ns,omitempty"`
	Leader  string        `json:"leader,omitempty"`
	// FromElection is over the registers that resumed after that election
	// (the others never needed it): election to first answer.
	FromElection Spread `json:"from_election"`
	// Waited is how long each register waited for that first answer
	// because of the fault: from the later of the fault and the request's
	// sending. FromFault also counts the time a register had nothing to
	// send: in an open loop of R registers at N tx/s each register sends
	// about every R/N seconds (2 s at 2,000 registers and 1,000 tx/s), so
	// FromFault's p99 cannot fall below that however fast the failover.
	Waited Spread `json:"waited"`

	// fromFault and fromElection are the per-register figures, for
	// Pooled (in process only).
	fromFault, fromElection []time.Duration
}

// Pooled is the spread of every register's time to resume over several
// faults (flapping): from the fault, and from the election.
func Pooled(rs []Resume) (fromFault, fromElection Spread) {
	var f, e []time.Duration
	for _, r := range rs {
		f, e = append(f, r.fromFault...), append(e, r.fromElection...)
	}
	return spreadOf(f), spreadOf(e)
}

// Spread is a distribution over registers.
type Spread struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

func spreadOf(d []time.Duration) Spread {
	if len(d) == 0 {
		return Spread{}
	}
	slices.Sort(d)
	return Spread{N: len(d), P50: rankOf(d, 50), P99: rankOf(d, 99), Max: d[len(d)-1]}
}

// rankOf is the value at rank ceil(p/100 × n) of sorted d (loadtest's
// definition, so that both tables agree).
func rankOf(d []time.Duration, p float64) time.Duration {
	i := int(float64(len(d))*p/100+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// elected is one term's leader and the earliest any node saw it.
type elected struct {
	Term   uint64
	Leader string
	At     time.Time
}

// readLeaders merges every node's GET /leaders: each term once, at the
// earliest time a node saw its leader (the leader itself, as a rule). A
// node restarted during the run lost what it saw before: the others have
// it. Nodes that cannot be read are left out.
func readLeaders(ctx context.Context, nodes []*adminapi.Client) []elected {
	first := map[uint64]elected{}
	for _, n := range nodes {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		l, err := n.Leaders(c)
		cancel()
		if err != nil {
			continue
		}
		for _, s := range l.Seen {
			if e, ok := first[s.Term]; !ok || s.At.Before(e.At) {
				first[s.Term] = elected{Term: s.Term, Leader: s.LeaderID, At: s.At}
			}
		}
	}
	out := make([]elected, 0, len(first))
	for _, e := range first {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b elected) int { return a.At.Compare(b.At) })
	return out
}

// resumeRule says which answers show that a register resumed after a
// fault.
type resumeRule struct {
	// Silent is the node whose answers do not count before the fault
	// ends ("" for none): the node killed, paused or cut off, which may
	// still deliver what it had in hand.
	Silent string
	// Fresh: only answers to requests sent after the fault count. A cut of
	// the registers' own links to the active still lets its answers to
	// earlier requests through, and they prove nothing.
	Fresh bool
}

// answer is one financial request a register got an answer to: echoes
// (any node answers them) and batch totals (after the load) do not show
// that a node serves.
type answer struct {
	register, node string
	sent, at       time.Time
}

// answers are the history's answered financial requests of the load
// (returned by end), by return time.
func answers(events []history.Event, end time.Time) []answer {
	var out []answer
	for _, e := range events {
		if e.Kind != history.Request || e.Outcome != history.Answered || !wire.Classify(e.MTI, e.ProcCode, "").Financial() {
			continue
		}
		if at := time.Unix(0, e.Return); !at.After(end) {
			out = append(out, answer{register: e.Register, node: e.Node, sent: time.Unix(0, e.Invoke), at: at})
		}
	}
	slices.SortFunc(out, func(a, b answer) int { return a.at.Compare(b.at) })
	return out
}

// resumeInput is what resumes reads.
type resumeInput struct {
	start   time.Time // of the load
	end     time.Time // of the load
	events  []history.Event
	faults  []check.Fault
	rules   []resumeRule // per fault
	leaders []elected
}

// resumes computes a Resume per fault.
func resumes(in resumeInput) []Resume {
	ans := answers(in.events, in.end)
	regs := map[string]bool{}
	for _, a := range ans {
		regs[a.register] = true
	}
	out := make([]Resume, 0, len(in.faults))
	for i, f := range in.faults {
		until := in.end
		if i+1 < len(in.faults) && in.faults[i+1].At.Before(until) {
			until = in.faults[i+1].At
		}
		var rule resumeRule
		if i < len(in.rules) {
			rule = in.rules[i]
		}
		out = append(out, resumeOf(in, f, rule, until, ans, len(regs)))
	}
	return out
}

func resumeOf(in resumeInput, f check.Fault, rule resumeRule, until time.Time, ans []answer, registers int) Resume {
	r := Resume{Kind: f.Kind, Target: f.Target, At: f.At.Sub(in.start), Registers: registers}
	if !f.End.IsZero() {
		r.Length = f.End.Sub(f.At)
	}
	first := map[string]time.Time{}
	var waited []time.Duration
	for _, a := range ans {
		if !a.at.After(f.At) || (rule.Fresh && !a.sent.After(f.At)) {
			continue
		}
		if a.node == rule.Silent && (f.End.IsZero() || a.at.Before(f.End)) {
			continue // the silenced node: an answer it had in hand before the fault
		}
		if _, ok := first[a.register]; !ok {
			first[a.register] = a.at
			waited = append(waited, a.at.Sub(latest(a.sent, f.At)))
		}
	}
	r.Resumed = len(first)
	election := electionAfter(in.leaders, f.At, until, &r)
	var fromFault, fromElection []time.Duration
	for _, t := range first {
		fromFault = append(fromFault, t.Sub(f.At))
		if !election.IsZero() && t.After(election) {
			fromElection = append(fromElection, t.Sub(election))
		}
	}
	r.FromFault, r.FromElection, r.Waited = spreadOf(fromFault), spreadOf(fromElection), spreadOf(waited)
	r.fromFault, r.fromElection = fromFault, fromElection
	return r
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// electionAfter counts the new terms with a leader between at and until,
// notes the first in r and returns its time (zero without one). A term
// is new when it is above every term seen by at.
func electionAfter(leaders []elected, at, until time.Time, r *Resume) time.Time {
	var before uint64
	for _, e := range leaders {
		if !e.At.After(at) {
			before = max(before, e.Term)
		}
	}
	var first time.Time
	for _, e := range leaders {
		if e.Term <= before || !e.At.After(at) || !e.At.Before(until) {
			continue
		}
		r.Elections++
		if first.IsZero() {
			first, r.Elected, r.Leader = e.At, e.At.Sub(at), e.Leader
		}
	}
	return first
}
