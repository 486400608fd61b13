package bench

import (
	"fmt"

	"github.com/tillgate/tillgate/check"
)

// baseline is what the cluster and acqsim held before the run. `tillbench
// run` may point at a cluster that has served before (an earlier run, a
// demo): its transactions were asked for by no register of this run and
// would all be phantoms. The checker judges what this run added: every
// transaction and acquirer record that was there before is left out (one
// that changed since stays in, so that it shows), and the totals compared
// are the run's difference. A fresh cluster (tillbench local) has an
// empty baseline: nothing is left out.
type baseline struct {
	txns   map[string]bool            // node transaction ids held before
	acq    map[string]check.AcqRecord // acquirer records by key
	totals map[string]map[string]check.Sum
	// anyTotals: the totals of the node at the highest applied index, for a
	// node that could not be read before.
	anyTotals map[string]check.Sum
}

func newBaseline(in check.Input) *baseline {
	b := &baseline{txns: map[string]bool{}, acq: map[string]check.AcqRecord{}, totals: map[string]map[string]check.Sum{}}
	var top uint64
	for _, n := range in.Nodes {
		for _, t := range n.Txns {
			b.txns[t.ID] = true
		}
		b.totals[n.ID] = n.Totals
		if n.AppliedIndex >= top {
			top, b.anyTotals = n.AppliedIndex, n.Totals
		}
	}
	for _, r := range in.Acquirer {
		b.acq[r.Key] = r
	}
	return b
}

func (b *baseline) empty() bool { return b == nil || len(b.txns) == 0 && len(b.acq) == 0 }

// subtract leaves the baseline out of in and says so ("" when there was
// nothing to leave out).
func (b *baseline) subtract(in *check.Input) string {
	if b.empty() {
		return ""
	}
	for i := range in.Nodes {
		n := &in.Nodes[i]
		kept := n.Txns[:0]
		for _, t := range n.Txns {
			if !b.txns[t.ID] {
				kept = append(kept, t)
			}
		}
		n.Txns = kept
		before, ok := b.totals[n.ID]
		if !ok {
			before = b.anyTotals
		}
		n.Totals = minusSums(n.Totals, before)
	}
	var recs []check.AcqRecord
	for _, r := range in.Acquirer {
		if old, ok := b.acq[r.Key]; !ok || old != r {
			recs = append(recs, r)
		}
	}
	in.Acquirer = recs
	return fmt.Sprintf("baseline: %d transactions and %d acquirer records held before the run are not judged; totals are compared as the run's difference",
		len(b.txns), len(b.acq))
}

// minusSums is a - b, kind by kind.
func minusSums(a, b map[string]check.Sum) map[string]check.Sum {
	out := map[string]check.Sum{}
	for k, s := range a {
		out[k] = s
	}
	for k, s := range b {
		d := out[k]
		d.Count -= s.Count
		d.Amount -= s.Amount
		out[k] = d
	}
	return out
}
