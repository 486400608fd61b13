package check

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// checkCluster applies the rules that are about the cluster as a whole:
// quiescence, replicas (I5), leaders (I6).
func (c *checker) checkCluster() {
	c.checkQuiescent()
	c.checkReplicas()
	c.checkLeaders()
}

// checkQuiescent: whatever a register or a node still owes at the end was
// never shown to be delivered.
func (c *checker) checkQuiescent() {
	if n := c.in.RegisterQueues; n > 0 {
		c.violate(I3, "registers", fmt.Sprintf("not quiescent: registers still hold %d queued reversal/advice entries", n))
	}
	for _, ni := range c.nodes {
		if d := ni.n.SAFDepth; d > 0 {
			c.violate(I1, "node "+ni.n.ID, fmt.Sprintf("not quiescent: node %s still owes %d SAF entries (advices, reversals) to acquirers", ni.n.ID, d))
		}
	}
}

// checkReplicas (I5): every node at the same applied index, with the same
// state hash. Unequal indexes at the end are a failure, not a skip.
func (c *checker) checkReplicas() {
	if len(c.nodes) == 0 {
		c.violate(I5, "cluster", "no node's state was given: nothing can be checked against the registers")
		return
	}
	byIndex := map[uint64][]*Node{}
	for _, ni := range c.nodes {
		if ni.n.Hash == "" {
			c.violate(I5, "node "+ni.n.ID, fmt.Sprintf("node %s: no state hash read", ni.n.ID))
		}
		byIndex[ni.n.AppliedIndex] = append(byIndex[ni.n.AppliedIndex], ni.n)
	}
	if len(byIndex) > 1 {
		c.violate(I5, "cluster", "replicas did not converge: applied index "+c.indexes())
	}
	for _, idx := range slices.Sorted(maps.Keys(byIndex)) {
		c.sameHash(idx, byIndex[idx])
	}
}

func (c *checker) indexes() string {
	parts := make([]string, len(c.nodes))
	for i, ni := range c.nodes {
		parts[i] = fmt.Sprintf("%s %d", ni.n.ID, ni.n.AppliedIndex)
	}
	return strings.Join(parts, ", ")
}

func (c *checker) sameHash(idx uint64, nodes []*Node) {
	for _, n := range nodes[1:] {
		if n.Hash != "" && nodes[0].Hash != "" && n.Hash != nodes[0].Hash {
			c.violate(I5, "cluster", fmt.Sprintf("nodes %s and %s differ at applied index %d: hash %s vs %s",
				nodes[0].ID, n.ID, idx, short(nodes[0].Hash), short(n.Hash)))
		}
	}
}

func short(h string) string { return h[:min(12, len(h))] }

// checkLeaders (I6): across every node's view, a term names one leader.
//
// A follower's view can carry the previous leader into a new term:
// hashicorp/raft raises a follower's term when it grants a leadership
// transfer's vote (or takes the new leader's first AppendEntries) and
// learns the new leader only after, so a read in between names (new
// term, old leader) though the old leader never led that term. Such a
// view is not a second leader when exactly one node saw itself lead the
// term and the name it carries led an earlier term. Two nodes that each
// saw themselves lead one term always are.
func (c *checker) checkLeaders() {
	terms := map[uint64]map[string][]string{} // term -> leader -> nodes that saw it
	declared := map[uint64][]string{}         // term -> nodes that saw themselves lead it
	for _, ni := range c.nodes {
		for _, l := range ni.n.Leaders {
			if l.LeaderID == "" {
				continue // no leader known in that term
			}
			if terms[l.Term] == nil {
				terms[l.Term] = map[string][]string{}
			}
			seen := terms[l.Term][l.LeaderID]
			if !slices.Contains(seen, ni.n.ID) {
				terms[l.Term][l.LeaderID] = append(seen, ni.n.ID)
			}
			if l.LeaderID == ni.n.ID && !slices.Contains(declared[l.Term], ni.n.ID) {
				declared[l.Term] = append(declared[l.Term], ni.n.ID)
			}
		}
	}
	ledBefore := func(id string, term uint64) bool {
		for t, leaders := range terms {
			if _, ok := leaders[id]; ok && t < term {
				return true
			}
		}
		return false
	}
	for _, term := range slices.Sorted(maps.Keys(terms)) {
		leaders := terms[term]
		if d := declared[term]; len(d) == 1 {
			for id := range leaders {
				if id != d[0] && !slices.Contains(leaders[id], id) && ledBefore(id, term) {
					delete(leaders, id) // carried over from an earlier term
				}
			}
		}
		if len(leaders) > 1 {
			var parts []string
			for _, id := range slices.Sorted(maps.Keys(leaders)) {
				parts = append(parts, fmt.Sprintf("%s (seen by %s)", id, strings.Join(leaders[id], ", ")))
			}
			c.violate(I6, fmt.Sprintf("term %d", term), fmt.Sprintf("term %d has %d leaders: %s", term, len(leaders), strings.Join(parts, "; ")))
		}
	}
}

// checkPhantoms (I3): every node transaction and every acquirer record
// maps to a request a register sent.
func (c *checker) checkPhantoms() {
	onNodes := map[string][]string{}
	var ids []string
	for _, ni := range c.nodes {
		for _, t := range ni.n.Txns {
			if c.views[t.ID] != nil {
				continue
			}
			if onNodes[t.ID] == nil {
				ids = append(ids, t.ID)
			}
			onNodes[t.ID] = append(onNodes[t.ID], ni.n.ID+" "+t.Status)
		}
	}
	for _, id := range ids {
		c.violate(I3, id, fmt.Sprintf("phantom: no register sent %s, yet nodes hold it (%s)", id, strings.Join(onNodes[id], ", ")))
	}
	if c.in.SkipAcquirer {
		return
	}
	for _, r := range c.acq.phantoms {
		c.out = append(c.out, Violation{Invariant: I3, ID: r.Key, Facts: []string{describeRecord(r)},
			Detail: fmt.Sprintf("phantom at the acquirer: no node transaction accounts for %s (%s, rc %s)", r.Key, r.Kind, r.RC)})
	}
	for _, r := range c.acq.orphans {
		if r.Refused > 0 {
			c.out = append(c.out, Violation{Invariant: I2, ID: r.Key, Facts: []string{describeRecord(r)},
				Detail: fmt.Sprintf("the acquirer refused %d frame(s) of %s as a duplicate or a STAN reuse", r.Refused, r.Key)})
		}
	}
}

// checkTotals (I4): every node's totals = the acquirer's = the model's,
// computed from what the registers hold.
func (c *checker) checkTotals() {
	model := c.modelTotals()
	for _, ni := range c.nodes {
		if got := cloneSums(ni.n.Totals); !maps.Equal(got, model) {
			c.violate(I4, "node "+ni.n.ID, fmt.Sprintf("node %s totals differ from the model's (what the registers hold): %s",
				ni.n.ID, sumsDiff("node", got, "model", model)))
		}
	}
	if c.in.SkipAcquirer {
		return
	}
	if acq := acqTotals(c.in.Acquirer); !maps.Equal(acq, model) {
		c.violate(I4, "acquirer", "the acquirer's totals differ from the model's (what the registers hold): "+
			sumsDiff("acquirer", acq, "model", model))
	}
}

// modelTotals: what the registers hold approved and did not reverse.
func (c *checker) modelTotals() map[string]Sum {
	out := map[string]Sum{}
	for _, v := range c.order {
		if k := v.kind(); v.state == regApproved && !v.reversed && netKinds[k] {
			s := out[k]
			s.Count++
			s.Amount += v.amount
			out[k] = s
		}
	}
	return out
}

// acqTotals: the ledger's standing approvals, as acqsim's own Totals.
func acqTotals(records []AcqRecord) map[string]Sum {
	out := map[string]Sum{}
	for i := range records {
		r := &records[i]
		if r.effect() && netKinds[r.Kind] {
			s := out[r.Kind]
			s.Count++
			s.Amount += r.Amount
			out[r.Kind] = s
		}
	}
	return out
}

// sumsDiff lists the kinds where a and b differ.
func sumsDiff(an string, a map[string]Sum, bn string, b map[string]Sum) string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, cmp.Compare)
	var parts []string
	for _, k := range keys {
		if a[k] != b[k] {
			parts = append(parts, fmt.Sprintf("%s: %s %d/%d, %s %d/%d", k, an, a[k].Count, a[k].Amount, bn, b[k].Count, b[k].Amount))
		}
	}
	return strings.Join(parts, "; ") + " (count/amount)"
}
