package check

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tillgate/tillgate/history"
)

// shown is how many violations String prints in full.
const shown = 10

// String is the verdict for an operator: one summary line, the checks
// skipped, then the first violations, each with what every node and the
// acquirer hold and the identity's whole history.
func (r Report) String() string {
	var b strings.Builder
	b.WriteString(r.Summary())
	b.WriteByte('\n')
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "skipped: %s\n", s)
	}
	for i, v := range r.Violations[:min(shown, len(r.Violations))] {
		fmt.Fprintf(&b, "\nviolation %d of %d: ", i+1, len(r.Violations))
		v.write(&b)
	}
	if n := len(r.Violations) - shown; n > 0 {
		fmt.Fprintf(&b, "\n... and %d more violations\n", n)
	}
	return b.String()
}

// Summary is one line: PASS or FAIL, the identities and the violations by
// invariant.
func (r Report) Summary() string {
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	s := fmt.Sprintf("check %s: %d identities (%d approved, %d declined, %d unknown, %d not sent; %d reversed), %d nodes, %d acquirer records, %d faults injected; %d violations",
		verdict, r.Identities, r.Approved, r.Declined, r.Unknown, r.NotSent, r.Reversed, r.Nodes, r.AcqRecords, r.Faults, len(r.Violations))
	by := r.ByInvariant()
	if len(by) == 0 {
		return s
	}
	var parts []string
	for _, inv := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s %d", inv, by[inv]))
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}

// String is the violation in full.
func (v Violation) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Violation) write(b *strings.Builder) {
	fmt.Fprintf(b, "%s %s\n", v.Invariant, v.ID)
	for _, d := range strings.Split(v.Detail, "; ") {
		fmt.Fprintf(b, "  %s\n", d)
	}
	for _, f := range v.Facts {
		fmt.Fprintf(b, "  | %s\n", f)
	}
	if len(v.History) > 0 {
		fmt.Fprintf(b, "  history (%s UTC):\n", time.Unix(0, v.History[0].Invoke).UTC().Format(time.DateOnly))
		for _, e := range v.History {
			fmt.Fprintf(b, "    %s\n", FormatEvent(e))
		}
	}
	for _, f := range v.Faults {
		fmt.Fprintf(b, "  during fault: %s\n", f)
	}
}

// String is a fault on one line.
func (f Fault) String() string {
	s := fmt.Sprintf("%s %s at %s", f.Kind, f.Target, clock(f.At.UnixNano()))
	if !f.End.IsZero() {
		s += " until " + clock(f.End.UnixNano())
	}
	return s
}

func clock(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000000") }

// FormatEvent is one history event on one line.
func FormatEvent(e history.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-7s %s %s", clock(e.Invoke), e.Kind, e.MTI, e.ID)
	if e.ProcCode != "" {
		fmt.Fprintf(&b, " de3 %s", e.ProcCode)
	}
	if e.Amount != 0 {
		fmt.Fprintf(&b, " de4 %d", e.Amount)
	}
	if id := e.OriginalID(); id != "" {
		fmt.Fprintf(&b, " names %s %s", e.OriginalMTI(), id)
	}
	if e.Of != "" && e.Of != e.ID && e.Of != e.OriginalID() {
		fmt.Fprintf(&b, " settles %s", e.Of)
	}
	switch e.Kind {
	case history.Request:
		fmt.Fprintf(&b, " -> %s", e.Outcome)
		writeAnswer(&b, e)
		if e.Return != 0 {
			fmt.Fprintf(&b, " after %v", time.Duration(e.Return-e.Invoke).Round(time.Microsecond))
		}
	case history.Acked:
		fmt.Fprintf(&b, " rc %s", e.RC)
	}
	return b.String()
}

func writeAnswer(b *strings.Builder, e history.Event) {
	for _, f := range []struct{ name, v string }{{"rc", e.RC}, {"auth", e.AuthCode}, {"rrn", e.RRN}, {"node", e.Node}} {
		if f.v != "" {
			fmt.Fprintf(b, " %s %s", f.name, f.v)
		}
	}
}
