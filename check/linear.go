package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The linearizability check (I7). Each identity is a tiny register of one
// authorization: the first authorization that takes effect fixes (DE39,
// DE38), every later answer must be that one, a reversal makes the net
// zero (one that comes first cancels the original: it must then be
// declined), and the final state of every node and of the acquirer, read
// after everything, must be what that order leaves. Requests with no
// answer, and reversals never acknowledged, may or may not have taken
// effect: the model tries both.

type opKind uint8

const (
	opAuth         opKind = iota + 1 // an answer came
	opAuthMaybe                      // no answer: took effect or not, unseen
	opReverse                        // a reversal naming it was acknowledged
	opReverseMaybe                   // a reversal was sent, never acknowledged
	opRead                           // a node's or the acquirer's final state
)

// linIn is an operation's input: the identity (the partition) and what.
type linIn struct {
	id   string
	kind opKind
	who  string // for a read: "node n1" or "acquirer"
}

// linOut is what the operation observed.
type linOut struct {
	rc, auth string // opAuth; auth "" for an acknowledgement of a queued entry
	approved bool   // opRead: the state stands approved
}

// linState is the model's state of one identity.
type linState struct {
	fixed       bool // an authorization took effect
	known       bool // and its answer was observed
	mustDecline bool // it took effect unobserved after a cancel, or a read saw it not approved
	cancelled   bool // a reversal came before any authorization took effect
	reversed    bool // a reversal came after
	rc, auth    string
}

// linModel is the per-identity model.
func linModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []any { return []any{linState{}} },
		Step: func(state, input, output any) []any {
			return linStep(state.(linState), input.(linIn), output.(linOut))
		},
		Partition: partitionByID,
		DescribeOperation: func(input, output any) string {
			return describeOp(input.(linIn), output.(linOut))
		},
	}
	return nm.ToModel()
}

// linStep is every state the model may be in after the operation.
func linStep(s linState, in linIn, out linOut) []any {
	switch in.kind {
	case opAuth:
		return one(authStep(s, out))
	case opAuthMaybe:
		if s.fixed {
			return []any{s}
		}
		w := s
		w.fixed, w.mustDecline = true, s.cancelled
		return []any{s, w}
	case opReverse:
		return []any{reverseStep(s)}
	case opReverseMaybe:
		return []any{s, reverseStep(s)}
	case opRead:
		return one(readStep(s, out))
	}
	return nil
}

func one(s linState, ok bool) []any {
	if !ok {
		return nil
	}
	return []any{s}
}

// authStep: the first answer fixes the outcome (a cancelled identity can
// only be declined); later answers must equal it.
func authStep(s linState, out linOut) (linState, bool) {
	switch {
	case !s.fixed:
		if s.cancelled && out.rc == "00" {
			return s, false
		}
		s.fixed, s.known, s.rc, s.auth = true, true, out.rc, out.auth
		return s, true
	case !s.known:
		if s.mustDecline && out.rc == "00" {
			return s, false
		}
		s.known, s.rc, s.auth = true, out.rc, out.auth
		return s, true
	case out.rc != s.rc || differ(out.auth, s.auth):
		return s, false
	}
	if s.auth == "" {
		s.auth = out.auth
	}
	return s, true
}

func reverseStep(s linState) linState {
	if s.fixed {
		s.reversed = true
	} else {
		s.cancelled = true
	}
	return s
}

// readStep: a final state stands approved only for a fixed 00 never
// reversed, with its DE38.
func readStep(s linState, out linOut) (linState, bool) {
	switch {
	case !s.fixed || s.reversed:
		return s, !out.approved
	case !s.known && out.approved:
		if s.mustDecline {
			return s, false
		}
		s.known, s.rc, s.auth = true, "00", out.auth
		return s, true
	case !s.known:
		s.mustDecline = true
		return s, true
	case out.approved != (s.rc == "00"):
		return s, false
	}
	return s, !out.approved || !differ(out.auth, s.auth)
}

func partitionByID(ops []porcupine.Operation) [][]porcupine.Operation {
	idx := map[string]int{}
	var out [][]porcupine.Operation
	for _, op := range ops {
		id := op.Input.(linIn).id
		i, ok := idx[id]
		if !ok {
			i = len(out)
			idx[id] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], op)
	}
	return out
}

func describeOp(in linIn, out linOut) string {
	switch in.kind {
	case opAuth:
		return fmt.Sprintf("answer %s %s", out.rc, out.auth)
	case opAuthMaybe:
		return "request, no answer"
	case opReverse:
		return "reversal acknowledged"
	case opReverseMaybe:
		return "reversal not acknowledged"
	}
	if out.approved {
		return fmt.Sprintf("%s: approved %s", in.who, out.auth)
	}
	return in.who + ": not approved"
}

// linOps are the operations of v's history and the final reads.
func (c *checker) linOps(v *regView) []porcupine.Operation {
	end := v.last
	for _, r := range v.revs {
		end = max(end, r.last)
	}
	end++ // unanswered operations may take effect until the end...
	var ops []porcupine.Operation
	add := func(kind opKind, who string, call, ret int64, out linOut) {
		ops = append(ops, porcupine.Operation{Input: linIn{v.id, kind, who}, Call: call, Return: max(call, ret), Output: out})
	}
	for _, e := range v.requests {
		switch {
		case e.Outcome == "answered" && v.final(e.RC):
			add(opAuth, "", e.Invoke, returned(e), linOut{rc: e.RC, auth: e.AuthCode})
		case e.Outcome == "answered" || e.Outcome == "unknown":
			add(opAuthMaybe, "", e.Invoke, end, linOut{})
		}
	}
	for _, e := range v.acked {
		add(opAuth, "", v.first, e.Invoke, linOut{rc: e.RC})
	}
	for _, r := range v.revs {
		switch {
		case r.acknowledged():
			add(opReverse, "", r.first, r.ackAt(), linOut{})
		case r.state == regUnknown:
			add(opReverseMaybe, "", r.first, end, linOut{})
		}
	}
	for _, rd := range c.finalReads(v) { // ...and the reads come after it
		add(opRead, rd.who, end+1, end+1, rd.out)
	}
	return ops
}

type finalRead struct {
	who string
	out linOut
}

// finalReads are every node's and the acquirer's state of id at the end.
func (c *checker) finalReads(v *regView) []finalRead {
	id := v.id
	var out []finalRead
	for _, ni := range c.nodes {
		rd := finalRead{who: "node " + ni.n.ID}
		if ni.effective(id) == statusApproved {
			rd.out = linOut{approved: true, auth: ni.txns[id].AuthCode}
		}
		out = append(out, rd)
	}
	if c.acquirerHolds(v) {
		rd := finalRead{who: "acquirer"}
		if eff := c.acq.effects(id); len(eff) > 0 {
			rd.out = linOut{approved: true, auth: eff[0].AuthCode}
		}
		out = append(out, rd)
	}
	return out
}

// Bounds of the porcupine search. Identities are checked in chunks (one
// goroutine per identity while a chunk runs); a chunk that fails is
// checked identity by identity to name the culprits.
const (
	linChunk        = 256
	linChunkTimeout = 30 * time.Second
	linOneTimeout   = 10 * time.Second
)

// checkLinear (I7) runs porcupine over every identity but reversals
// (their effect is checked on the original they name).
func (c *checker) checkLinear() {
	model := linModel()
	var chunk []*regView
	var ops []porcupine.Operation
	flush := func() {
		if len(chunk) > 0 && porcupine.CheckOperationsTimeout(model, ops, linChunkTimeout) != porcupine.Ok {
			c.linOneByOne(model, chunk)
		}
		chunk, ops = chunk[:0], ops[:0]
	}
	for _, v := range c.order {
		if v.isReversal() {
			continue
		}
		chunk, ops = append(chunk, v), append(ops, c.linOps(v)...)
		if len(chunk) == linChunk {
			flush()
		}
	}
	flush()
}

func (c *checker) linOneByOne(model porcupine.Model, chunk []*regView) {
	for _, v := range chunk {
		ops := c.linOps(v)
		switch porcupine.CheckOperationsTimeout(model, ops, linOneTimeout) {
		case porcupine.Illegal:
			c.violate(I7, v.id, "not linearizable: no order of "+describeOps(v, ops)+" fits one authorization")
		case porcupine.Unknown:
			c.violate(I7, v.id, fmt.Sprintf("linearizability undecided within %v: %s", linOneTimeout, describeOps(v, ops)))
		}
	}
}

// describeOps lists the operations, times relative to the first event.
func describeOps(v *regView, ops []porcupine.Operation) string {
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("[%s] %s", span(v.first, op.Call, op.Return), describeOp(op.Input.(linIn), op.Output.(linOut)))
	}
	return strings.Join(parts, ", ")
}

func span(t0, a, b int64) string {
	d := func(t int64) string { return time.Duration(t - t0).Round(time.Microsecond).String() }
	return d(a) + ".." + d(b)
}
