package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tillgate/tillgate/wire"
)

// nodeIndex is one node's transactions by identity.
type nodeIndex struct {
	n    *Node
	txns map[string]*Txn
	// reversedBy maps an original to the approved reversal that names it.
	// A reversal of an approval whose day was already settled leaves the
	// original approved in its frozen day (the node's totals take it back):
	// for the checker it is reversed all the same.
	reversedBy map[string]string
}

func newNodeIndex(n *Node) *nodeIndex {
	ni := &nodeIndex{n: n, txns: make(map[string]*Txn, len(n.Txns)), reversedBy: map[string]string{}}
	for i := range n.Txns {
		t := &n.Txns[i]
		ni.txns[t.ID] = t
		if t.Type == kindReversal && t.Status == statusApproved && t.OriginalID != "" {
			ni.reversedBy[t.OriginalID] = t.ID
		}
	}
	return ni
}

// effective is the status of id on this node, a late reversal counted as
// a reversal, statusAbsent without a transaction.
func (ni *nodeIndex) effective(id string) string {
	t := ni.txns[id]
	switch {
	case t == nil:
		return statusAbsent
	case t.Status == statusApproved && ni.reversedBy[id] != "":
		return statusReversed
	}
	return t.Status
}

// describe is one line of facts about id on this node.
func (ni *nodeIndex) describe(id string) string {
	t := ni.txns[id]
	if t == nil {
		return fmt.Sprintf("node %s: no transaction", ni.n.ID)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "node %s: %s %s %s rc %q auth %q rrn %q amount %d day %q batch %d acquirer %s",
		ni.n.ID, t.Type, t.MTI, t.Status, t.RC, t.AuthCode, t.RRN, t.Amount, t.Day, t.Batch, acqKey(t))
	if r := ni.reversedBy[id]; r != "" {
		fmt.Fprintf(&b, " reversed-by %s", r)
	}
	if t.StandIn {
		b.WriteString(" stand-in")
	}
	if t.Repeat {
		b.WriteString(" repeat")
	}
	return b.String()
}

// acqClass is the acquirer's duplicate-detection class of an MTI: a repeat
// is its original, a reversal advice (0420) the same reversal as an 0400.
func acqClass(mti string) string {
	if len(mti) == 4 && mti[3] == '1' {
		mti = mti[:3] + "0"
	}
	if mti == wire.MTIReversalAdvice {
		return wire.MTIReversal
	}
	return mti
}

// acqKey is a node transaction's identity at the acquirer: class +
// terminal + acquirer STAN + acquirer DE7; "" if it has none.
func acqKey(t *Txn) string {
	if t.AcqSTAN == "" || t.AcqTime == "" {
		return ""
	}
	term := t.Terminal
	if term == "" && len(t.ID) >= 8 {
		term = t.ID[:8]
	}
	return acqClass(t.MTI) + term + t.AcqSTAN + t.AcqTime
}

// acqIndex maps the acquirer's records to register identities, through the
// acquirer identity every node recorded for its transactions.
type acqIndex struct {
	owner  map[string]string   // acquirer key -> identity (node txn id)
	keys   map[string][]string // identity -> its acquirer keys (one, unless nodes disagree)
	recs   map[string][]*AcqRecord
	direct map[*AcqRecord]bool // the record is the transaction's own, not a derived message
	// phantoms are records no node transaction accounts for; orphans the
	// tombstones none does (no effect, but a refusal on one still counts).
	phantoms, orphans []*AcqRecord
	// clashes are identities whose acquirer key another identity also has.
	clashes map[string][]string
}

func newAcqIndex(nodes []*nodeIndex, records []AcqRecord) *acqIndex {
	ai := &acqIndex{
		owner: map[string]string{}, keys: map[string][]string{}, recs: map[string][]*AcqRecord{},
		direct: map[*AcqRecord]bool{}, clashes: map[string][]string{},
	}
	for _, ni := range nodes {
		for i := range ni.n.Txns {
			ai.own(&ni.n.Txns[i])
		}
	}
	for i := range records {
		ai.file(&records[i])
	}
	return ai
}

// own notes t's acquirer key. Two transactions with one key (a STAN reused
// across a failover) are one identity to the acquirer: a clash.
func (ai *acqIndex) own(t *Txn) {
	k := acqKey(t)
	if k == "" {
		return
	}
	switch o, ok := ai.owner[k]; {
	case !ok:
		ai.owner[k] = t.ID
	case o != t.ID:
		ai.clash(t.ID, o)
		ai.clash(o, t.ID)
		return
	}
	if !slices.Contains(ai.keys[t.ID], k) {
		ai.keys[t.ID] = append(ai.keys[t.ID], k)
	}
}

func (ai *acqIndex) clash(id, other string) {
	if !slices.Contains(ai.clashes[id], other) {
		ai.clashes[id] = append(ai.clashes[id], other)
	}
}

// file attaches r to the identity it belongs to: its own transaction, or
// (for the node's own reversal 0420 and stand-in advice 0220, which have
// identities of their own) the transaction its DE90 names.
func (ai *acqIndex) file(r *AcqRecord) {
	if r.Class == wire.MTINetwork {
		return // network management is no transaction
	}
	if id, ok := ai.owner[r.Key]; ok {
		ai.recs[id] = append(ai.recs[id], r)
		ai.direct[r] = true
		return
	}
	if id, ok := ai.owner[r.Original]; ok && r.Original != "" && (r.Kind == kindReversal || r.Advice) {
		ai.recs[id] = append(ai.recs[id], r)
		return
	}
	if r.Tombstone {
		ai.orphans = append(ai.orphans, r) // a reversal named an identity that never came
		return
	}
	ai.phantoms = append(ai.phantoms, r)
}

// effects are the records of id that stand approved.
func (ai *acqIndex) effects(id string) []*AcqRecord {
	var out []*AcqRecord
	for _, r := range ai.recs[id] {
		if r.effect() {
			out = append(out, r)
		}
	}
	return out
}

// describeRecord is one line of facts about a ledger record.
func describeRecord(r *AcqRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "acquirer %s: %s %s amount %d rc %q auth %q day %q requests %d repeats %d refused %d",
		r.Key, r.Class, r.Kind, r.Amount, r.RC, r.AuthCode, r.Day, r.Requests, r.Repeats, r.Refused)
	for _, f := range []struct {
		on   bool
		name string
	}{{r.Reversed, " reversed " + r.ReversedDay}, {r.Tombstone, " tombstone"}, {r.Advice, " advice"}, {r.StandIn, " stand-in"}} {
		if f.on {
			b.WriteString(f.name)
		}
	}
	if r.Original != "" {
		fmt.Fprintf(&b, " original %s", r.Original)
	}
	return b.String()
}
