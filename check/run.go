package check

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tillgate/tillgate/history"
)

// checker holds one Run's indexes.
type checker struct {
	in    Input
	views map[string]*regView
	order []*regView
	nodes []*nodeIndex
	acq   *acqIndex
	// related maps an identity to the events that name it: its own, and
	// those whose DE90 or Of names it.
	related map[string][]history.Event
	out     []Violation
}

// Run judges a run: every rule of the package documentation, over the
// registers' history, every node's state and the acquirer's ledger. It is
// pure and reads nothing but in.
func Run(in Input) Report {
	c := newChecker(in)
	rep := c.counts()
	if in.SkipAcquirer {
		rep.Skipped = append(rep.Skipped, "acquirer: no ledger read (no acqsim): rules on the acquirer's side not checked")
	}
	c.checkCluster()
	for _, v := range c.order {
		c.emit(v.id, c.checkIdentity(v))
	}
	c.checkPhantoms()
	c.checkTotals()
	c.checkLinear()
	rep.Violations = c.out
	return rep
}

func newChecker(in Input) *checker {
	c := &checker{in: in, related: map[string][]history.Event{}}
	c.views, c.order = registerViews(in.History)
	for i := range in.Nodes {
		c.nodes = append(c.nodes, newNodeIndex(&in.Nodes[i]))
	}
	c.acq = newAcqIndex(c.nodes, in.Acquirer)
	for _, e := range in.History {
		for _, id := range relatedIDs(e) {
			c.related[id] = append(c.related[id], e)
		}
	}
	return c
}

// relatedIDs are the identities an event belongs to, each once.
func relatedIDs(e history.Event) []string {
	ids := []string{e.ID}
	for _, id := range []string{e.OriginalID(), e.Of} {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (c *checker) counts() Report {
	rep := Report{Identities: len(c.order), Nodes: len(c.in.Nodes), AcqRecords: len(c.in.Acquirer), Faults: len(c.in.Faults)}
	for _, v := range c.order {
		switch v.state {
		case regApproved:
			rep.Approved++
		case regDeclined:
			rep.Declined++
		case regUnknown:
			rep.Unknown++
		default:
			rep.NotSent++
		}
		if v.reversed {
			rep.Reversed++
		}
	}
	return rep
}

// finding is one broken rule found for an identity. A finding about a
// node has "{node}" in its detail, so that the same finding on several
// nodes reads as one ("nodes n1, n3 ...").
type finding struct{ inv, detail, node string }

// findings collects an identity's problems; each invariant becomes one
// violation listing them all, so one lost approval on three nodes is one
// violation, not three.
type findings []finding

func (f *findings) add(inv, format string, args ...any) {
	*f = append(*f, finding{inv: inv, detail: fmt.Sprintf(format, args...)})
}

// onNode adds a finding about node; format says "{node}" where it goes.
func (f *findings) onNode(inv, node, format string, args ...any) {
	*f = append(*f, finding{inv: inv, detail: fmt.Sprintf(format, args...), node: node})
}

// emit turns an identity's findings into violations, one per invariant,
// in the order first found, each detail once with the nodes it holds for.
func (c *checker) emit(id string, fs findings) {
	var invs []string
	details := map[string][]string{}
	nodes := map[finding][]string{}
	for _, f := range fs {
		if _, ok := details[f.inv]; !ok {
			invs = append(invs, f.inv)
		}
		key := finding{inv: f.inv, detail: f.detail}
		if _, ok := nodes[key]; !ok {
			details[f.inv] = append(details[f.inv], f.detail)
		}
		nodes[key] = append(nodes[key], f.node)
	}
	for _, inv := range invs {
		var lines []string
		for _, d := range details[inv] {
			lines = append(lines, strings.ReplaceAll(d, "{node}", nodeList(nodes[finding{inv: inv, detail: d}])))
		}
		c.violate(inv, id, strings.Join(lines, "; "))
	}
}

// nodeList names nodes: "node n1", "nodes n1, n2".
func nodeList(ids []string) string {
	if len(ids) == 1 {
		return "node " + ids[0]
	}
	return "nodes " + strings.Join(ids, ", ")
}

// violate records a violation about id, with everything known of it.
func (c *checker) violate(inv, id, detail string) {
	h := c.historyOf(id)
	c.out = append(c.out, Violation{
		Invariant: inv, ID: id, Detail: detail, Facts: c.facts(id), History: h, Faults: c.faultsDuring(h),
	})
}

// historyOf is every event of id, and of the original its DE90 names, in
// time order.
func (c *checker) historyOf(id string) []history.Event {
	h := slices.Clone(c.related[id])
	if v := c.views[id]; v != nil && v.original != "" {
		for _, e := range c.related[v.original] {
			if e.ID == v.original {
				h = append(h, e)
			}
		}
	}
	slices.SortStableFunc(h, func(a, b history.Event) int { return cmp.Compare(a.Invoke, b.Invoke) })
	return slices.CompactFunc(h, func(a, b history.Event) bool { return a == b })
}

// facts are what every node and the acquirer hold for id.
func (c *checker) facts(id string) []string {
	var out []string
	for _, ni := range c.nodes {
		if ni.txns[id] != nil || c.views[id] != nil {
			out = append(out, ni.describe(id))
		}
	}
	for _, r := range c.acq.recs[id] {
		out = append(out, describeRecord(r))
	}
	return out
}

// faultsDuring lists the injected faults that overlap the events of h.
func (c *checker) faultsDuring(h []history.Event) []Fault {
	if len(h) == 0 {
		return nil
	}
	first, last := h[0].Invoke, h[0].Invoke
	for _, e := range h {
		first, last = min(first, e.Invoke), max(last, e.Invoke, e.Return)
	}
	var out []Fault
	for _, f := range c.in.Faults {
		end := f.End
		if end.IsZero() {
			end = f.At
		}
		if !f.At.After(time.Unix(0, last)) && !end.Before(time.Unix(0, first)) {
			out = append(out, f)
		}
	}
	return out
}
