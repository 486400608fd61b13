package check

import (
	"fmt"
	"strings"

	"github.com/tillgate/tillgate/wire"
)

// checkIdentity applies the per-identity rules to what the registers hold
// for v, every node's transaction and the acquirer's records.
func (c *checker) checkIdentity(v *regView) findings {
	var fs findings
	c.checkAnswers(v, &fs)
	c.checkDelivered(v, &fs)
	c.checkOpen(v, &fs)
	switch {
	case v.state == regNotSent:
		c.recordedNowhere(v, &fs)
	case v.isReversal():
		// Its effect is on the original it names, checked there.
	case v.state == regApproved && !v.reversed:
		c.approvedEverywhere(v, &fs)
	default:
		c.zeroEverywhere(v, &fs)
	}
	c.checkRecords(v, &fs)
	return fs
}

// checkAnswers: every final answer to the identity is its first one (I2:
// a repeat returns the original DE39 and DE38), and the identity names
// one message.
func (c *checker) checkAnswers(v *regView, fs *findings) {
	if v.mixed != "" {
		fs.add(I2, "the register used the identity for two messages (%s)", v.mixed)
	}
	h := v.held
	for _, a := range v.answers[min(1, len(v.answers)):] {
		if a.rc != h.rc || differ(a.auth, h.auth) || differ(a.rrn, h.rrn) {
			fs.add(I2, "answered %s then %s: a repeat must get the first answer", fmtAnswer(h), fmtAnswer(a))
		}
	}
	for _, e := range v.acked {
		if notAck(e.RC) {
			fs.add(I3, "the register took %s to its queued %s as an acknowledgement and dropped the entry", e.RC, e.MTI)
		}
	}
}

// differ compares two optional fields: only two known values can differ.
func differ(a, b string) bool { return a != "" && b != "" && a != b }

func fmtAnswer(a answer) string {
	s := a.rc
	if a.auth != "" {
		s += " auth " + a.auth
	}
	if a.rrn != "" {
		s += " rrn " + a.rrn
	}
	if a.acked {
		s += " (queue ack)"
	}
	return s
}

// checkDelivered: a reversal or advice is delivered, however long it
// takes. One that was sent and never acknowledged was either still queued
// at the end or dropped by the register.
func (c *checker) checkDelivered(v *regView, fs *findings) {
	if !v.needsAck() || v.state != regUnknown {
		return
	}
	inv, what := I1, "advice"
	if v.isReversal() {
		inv, what = I3, "reversal"
	}
	if len(v.queued) > 0 {
		fs.add(inv, "%s %s never acknowledged: still queued at the register at the end (not quiescent)", what, v.mti)
		return
	}
	fs.add(inv, "%s %s never acknowledged and not in the register's queue: dropped", what, v.mti)
}

// checkOpen: at quiescence no node holds the identity open.
func (c *checker) checkOpen(v *regView, fs *findings) {
	for _, ni := range c.nodes {
		switch ni.effective(v.id) {
		case statusPending:
			fs.onNode(I1, ni.n.ID, "INTENT still open (pending) on {node} at the end")
		case statusUnknown:
			fs.onNode(I1, ni.n.ID, "outcome still unknown on {node} at the end (its reversal not delivered)")
		}
	}
}

// recordedNowhere: a request that never left is on no node (I3).
func (c *checker) recordedNowhere(v *regView, fs *findings) {
	for _, ni := range c.nodes {
		if t := ni.txns[v.id]; t != nil {
			fs.onNode(I3, ni.n.ID, "the register never sent it, yet {node} recorded it (%s)", t.Status)
		}
	}
}

// approvedEverywhere (I1): a 00 the register holds and did not reverse is
// approved on every node with its DE38, DE37 and amount, in one day and
// one batch, and approved at the acquirer exactly once.
func (c *checker) approvedEverywhere(v *regView, fs *findings) {
	days, batches := map[string]bool{}, map[uint64]bool{}
	for _, ni := range c.nodes {
		t := ni.txns[v.id]
		if t == nil {
			fs.onNode(I1, ni.n.ID, "the register holds 00 (auth %s) but there is no such transaction on {node}", v.held.auth)
			continue
		}
		if st := ni.effective(v.id); st != statusApproved {
			fs.onNode(I1, ni.n.ID, "the register holds 00 (auth %s) but it is %s (rc %s) on {node}", v.held.auth, st, t.RC)
			continue
		}
		c.sameAnswer(v, ni, t, fs)
		days[t.Day], batches[t.Batch] = true, true
	}
	if len(days) > 1 || len(batches) > 1 {
		fs.add(I1, "nodes put it in different days or batches (%d days, %d batches)", len(days), len(batches))
	}
	c.approvedOnce(v, fs)
}

// sameAnswer compares an approved node transaction with the register's 00.
func (c *checker) sameAnswer(v *regView, ni *nodeIndex, t *Txn, fs *findings) {
	if differ(t.AuthCode, v.held.auth) || (t.AuthCode == "" && v.held.auth != "") {
		fs.onNode(I1, ni.n.ID, "{node} approved it with DE38 %q, the register holds %q", t.AuthCode, v.held.auth)
	}
	if differ(t.RRN, v.held.rrn) {
		fs.onNode(I1, ni.n.ID, "DE37 is %s on {node}, the register holds %s", t.RRN, v.held.rrn)
	}
	if t.Amount != v.amount {
		fs.onNode(I1, ni.n.ID, "{node} approved amount %d, the register asked %d", t.Amount, v.amount)
	}
	if t.Day == "" || t.Batch == 0 {
		fs.onNode(I1, ni.n.ID, "it is in no business day or batch on {node} (day %q, batch %d)", t.Day, t.Batch)
	}
}

// approvedOnce: the acquirer holds exactly one standing approval of the
// identity (its own record, or for a stand-in its advice), with the
// register's DE38 and amount.
func (c *checker) approvedOnce(v *regView, fs *findings) {
	if !c.acquirerHolds(v) {
		return
	}
	eff := c.acq.effects(v.id)
	switch {
	case len(eff) == 0:
		fs.add(I1, "the register holds 00 but the acquirer holds no standing approval of it%s", c.owed())
	case len(eff) > 1:
		fs.add(I2, "the acquirer holds %d standing approvals of it (%s): a double effect", len(eff), recordKeys(eff))
	default:
		r := eff[0]
		if differ(r.AuthCode, v.held.auth) || r.Amount != v.amount {
			fs.add(I1, "the acquirer approved it with DE38 %q amount %d, the register holds %q for %d",
				r.AuthCode, r.Amount, v.held.auth, v.amount)
		}
	}
}

// acquirerHolds reports whether the acquirer's ledger says something about
// v's money: not when no ledger was read, and never for a balance
// inquiry, which moves no money (the acquirer may have answered one the
// register never heard of: nothing to undo).
func (c *checker) acquirerHolds(v *regView) bool {
	return !c.in.SkipAcquirer && v.kind() != wire.KindBalance.String()
}

// owed explains a missing acquirer approval when a node still owes
// advices: the run did not reach quiescence.
func (c *checker) owed() string {
	depth := 0
	for _, ni := range c.nodes {
		depth = max(depth, ni.n.SAFDepth)
	}
	if depth == 0 {
		return ""
	}
	return fmt.Sprintf(" (nodes still owe %d SAF entries: perhaps owed, but the run is not quiescent)", depth)
}

func recordKeys(rs []*AcqRecord) string {
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.Key
	}
	return strings.Join(keys, ", ")
}

// zeroEverywhere (I3): a decline is approved nowhere; an unknown outcome,
// and an approval the register reversed, net to zero on every node and at
// the acquirer.
func (c *checker) zeroEverywhere(v *regView, fs *findings) {
	if v.kind() == wire.KindBalance.String() {
		return // moves no money: there is nothing to net
	}
	why := c.zeroWhy(v)
	for _, ni := range c.nodes {
		t := ni.txns[v.id]
		switch st := ni.effective(v.id); {
		case st == statusApproved:
			fs.onNode(I3, ni.n.ID, "%s, but it is approved on {node} (auth %s)", why, t.AuthCode)
		case st == statusDeclined && v.state == regDeclined && !v.held.acked && t.RC != v.held.rc:
			fs.onNode(I2, ni.n.ID, "the register was told %s, {node} recorded %s", v.held.rc, t.RC)
		}
	}
	if !c.acquirerHolds(v) {
		return
	}
	if eff := c.acq.effects(v.id); len(eff) > 0 {
		fs.add(I3, "%s, but the acquirer holds %d standing approval(s) of it (%s)%s", why, len(eff), recordKeys(eff), c.owed())
	}
}

// zeroWhy says why the identity must net to zero.
func (c *checker) zeroWhy(v *regView) string {
	switch {
	case v.reversed && v.state == regApproved:
		return "the register holds 00 and reversed it (acknowledged)"
	case v.reversed:
		return fmt.Sprintf("the register holds %s and reversed it (acknowledged)", v.state)
	case v.state == regDeclined:
		return "the register was told " + v.held.rc
	}
	return "the outcome is unknown to the register and no reversal was acknowledged"
}

// checkRecords (I2): the acquirer saw the identity more than once only when
// a node recorded asking again by a repeat, and refused nothing as a
// duplicate, but for one such: an active that lost its term may have sent
// the original that the acquirer got after the next active's repeat (on
// another connection), which a real host answers 94 with no effect; after
// the first frame, only repeats (xx01) may come.
func (c *checker) checkRecords(v *regView, fs *findings) {
	if keys := c.acq.keys[v.id]; len(keys) > 1 {
		fs.add(I5, "nodes recorded different acquirer identities for it: %s", strings.Join(keys, ", "))
	}
	for _, other := range c.acq.clashes[v.id] {
		fs.add(I2, "its acquirer identity is also that of %s: the acquirer sees two transactions as one", other)
	}
	if c.in.SkipAcquirer {
		return
	}
	for _, r := range c.acq.recs[v.id] {
		if r.Refused > 0 && (r.Requests == 0 || !c.repeated(v.id)) {
			fs.add(I2, "the acquirer refused %d frame(s) of %s as a duplicate or a STAN reuse", r.Refused, r.Key)
		}
		if r.Requests > 1 && c.acq.direct[r] && !c.repeated(v.id) {
			fs.add(I2, "the acquirer processed %s %d times but no node recorded asking it again by a repeat", r.Key, r.Requests)
		}
		if r.Requests-r.Repeats > 1 {
			fs.add(I2, "the acquirer got %d frames of %s with an original MTI: after the first, only repeats (xx01)", r.Requests-r.Repeats, r.Key)
		}
	}
}

// repeated: some node recorded that the acquirer was asked again, by a
// repeat, for id.
func (c *checker) repeated(id string) bool {
	for _, ni := range c.nodes {
		if t := ni.txns[id]; t != nil && t.Repeat {
			return true
		}
	}
	return false
}
