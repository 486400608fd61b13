package check

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/wire"
)

// regState is what the registers hold for an identity.
type regState uint8

const (
	regNotSent  regState = iota // every request provably never left (or failed locally)
	regApproved                 // the first final answer is 00
	regDeclined                 // the first final answer is anything else
	regUnknown                  // bytes left, no final answer came
)

func (s regState) String() string {
	switch s {
	case regApproved:
		return "approved"
	case regDeclined:
		return "declined"
	case regUnknown:
		return "unknown"
	}
	return "not sent"
}

// answer is one final answer a register got for an identity.
type answer struct {
	rc, auth, rrn string
	at            int64 // unix nanos: when it came
	// acked: the acknowledgement of a queued entry, which carries DE39
	// only (no DE38 or DE37 to compare).
	acked bool
}

// regView is what the registers hold for one identity: its requests, its
// queue entries and acknowledgements, and the reversals naming it.
type regView struct {
	id, mti, proc string
	amount        int64
	original      string // the identity DE90 names, "" without
	origMTI       string // the MTI DE90 names
	first, last   int64  // unix nanos of its earliest and latest own event

	requests, queued, acked []history.Event
	answers                 []answer // final answers, in time order
	state                   regState
	held                    answer // the first final answer, when there is one

	revs     []*regView // reversal identities whose DE90 names this one
	reversed bool       // one of revs was acknowledged
	// mixed names a field that differs between events of the identity (a
	// register reusing an identity for another message), "" if none.
	mixed string
}

// identityMTI reports the MTIs that are financial identities; echoes and
// batch closes are not transactions.
func identityMTI(mti string) bool { return wire.Classify(mti, "", "").Financial() }

// msgKind is the wire kind of the identity's message.
func (v *regView) msgKind() wire.Kind { return wire.Classify(v.mti, v.proc, v.origMTI) }

// isReversal: a reversal's effect is on the original it names.
func (v *regView) isReversal() bool { return v.msgKind().Reversal() }

// needsAck: reversals and advices are delivered, not declined: 30, 91 and
// 96 to them say "not taken, send again", never a final answer (the
// cluster answers 00 and owes them; the failover client keeps them queued).
func (v *regView) needsAck() bool { return v.msgKind().Owed() }

// final reports whether rc is a final answer for this identity.
func (v *regView) final(rc string) bool {
	return !v.needsAck() || !notAck(rc)
}

// notAck: the answers that acknowledge no reversal or advice.
func notAck(rc string) bool {
	return rc == wire.RCFormatError || rc == wire.RCIssuerInoperative || rc == wire.RCSystemError
}

// acknowledged: a reversal or advice got a final answer.
func (v *regView) acknowledged() bool {
	return v.state == regApproved || v.state == regDeclined
}

// kind is the totals kind of the identity, as the acquirer books it
// (wire.Kind.Booked): an 0120 advice is a pre-auth; an 0220 naming a
// financial request (a stand-in advice) the kind of its DE3, any other
// 0220 a completion.
func (v *regView) kind() string { return v.msgKind().Booked(v.proc).String() }

// registerViews builds one view per identity, ordered by first event.
func registerViews(events []history.Event) (map[string]*regView, []*regView) {
	views := map[string]*regView{}
	var order []*regView
	for _, e := range events {
		if !identityMTI(e.MTI) || e.ID == "" {
			continue
		}
		v := views[e.ID]
		if v == nil {
			v = newView(e)
			views[e.ID] = v
			order = append(order, v)
		}
		v.add(e)
	}
	for _, v := range order {
		v.classify()
	}
	linkReversals(views, order)
	slices.SortStableFunc(order, func(a, b *regView) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.id, b.id))
	})
	return views, order
}

func newView(e history.Event) *regView {
	return &regView{
		id: e.ID, mti: e.MTI, proc: e.ProcCode, amount: e.Amount,
		original: e.OriginalID(), origMTI: e.OriginalMTI(), first: e.Invoke, last: e.Invoke,
	}
}

// add files e under its kind and notes a register reusing the identity for
// a different message.
func (v *regView) add(e history.Event) {
	v.first, v.last = min(v.first, e.Invoke), max(v.last, e.Invoke, e.Return)
	v.noteMixed(e)
	switch e.Kind {
	case history.Request:
		v.requests = append(v.requests, e)
	case history.Queued:
		v.queued = append(v.queued, e)
	case history.Acked:
		v.acked = append(v.acked, e)
	}
}

// noteMixed compares e with the identity's message. A queue entry may
// leave out fields (DE3 of a reversal), so only two known values differ.
func (v *regView) noteMixed(e history.Event) {
	if v.proc == "" {
		v.proc = e.ProcCode
	}
	if v.amount == 0 {
		v.amount = e.Amount
	}
	if v.original == "" {
		v.original, v.origMTI = e.OriginalID(), e.OriginalMTI()
	}
	if v.original == "" && v.isReversal() && e.Of != e.ID {
		v.original = e.Of // a queue entry without DE90 still says what it settles
	}
	switch {
	case e.MTI != v.mti:
		v.mixed = "MTI " + v.mti + " and " + e.MTI
	case e.Amount != 0 && e.Amount != v.amount:
		v.mixed = fmt.Sprintf("DE4 %d and %d", v.amount, e.Amount)
	case differ(e.ProcCode, v.proc):
		v.mixed = "DE3 " + v.proc + " and " + e.ProcCode
	case differ(e.OriginalID(), v.original):
		v.mixed = "DE90 names " + v.original + " and " + e.OriginalID()
	}
}

// classify decides what the register holds: the first final answer wins
// (repeats must agree with it, checked later).
func (v *regView) classify() {
	sent := len(v.queued) > 0
	for _, e := range v.requests {
		switch {
		case e.Outcome == history.Answered && v.final(e.RC):
			v.answers = append(v.answers, answer{rc: e.RC, auth: e.AuthCode, rrn: e.RRN, at: returned(e)})
		case e.Outcome == history.Answered || e.Outcome == history.Unknown:
			sent = true
		}
	}
	for _, e := range v.acked {
		v.answers = append(v.answers, answer{rc: e.RC, at: e.Invoke, acked: true})
	}
	slices.SortStableFunc(v.answers, func(a, b answer) int { return cmp.Compare(a.at, b.at) })
	switch {
	case len(v.answers) > 0:
		v.held, v.state = v.answers[0], regDeclined
		if v.held.rc == "00" {
			v.state = regApproved
		}
	case sent:
		v.state = regUnknown
	default:
		v.state = regNotSent
	}
}

// returned is when a request's answer came (its invoke if no return was
// recorded).
func returned(e history.Event) int64 {
	if e.Return == 0 {
		return e.Invoke
	}
	return e.Return
}

// linkReversals attaches each reversal to the identity it names; an
// acknowledged one reverses it.
func linkReversals(views map[string]*regView, order []*regView) {
	for _, r := range order {
		if !r.isReversal() || r.original == "" {
			continue
		}
		o := views[r.original]
		if o == nil || o.isReversal() {
			continue // names nothing a register sent: no effect to net
		}
		o.revs = append(o.revs, r)
		if r.acknowledged() {
			o.reversed = true
		}
	}
}

// ackAt is when a reversal or advice was first acknowledged.
func (v *regView) ackAt() int64 { return v.held.at }
