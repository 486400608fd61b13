package check

import (
	"maps"
	"time"

	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// Invariants, as FAULTS.md names them.
const (
	I1 = "I1" // no lost approval
	I2 = "I2" // no double effect; repeats get the first answer
	I3 = "I3" // no phantom; unknowns and reversals net to zero
	I4 = "I4" // totals agree
	I5 = "I5" // replicas agree
	I6 = "I6" // one leader per term
	I7 = "I7" // per-identity linearizability
	I8 = "I8" // no card data at rest
)

// Transaction statuses as the admin API spells them.
const (
	statusPending  = "pending"
	statusApproved = "approved"
	statusDeclined = "declined"
	statusUnknown  = "unknown"
	statusReversed = "reversed"
	statusAbsent   = "absent" // not a node status: no transaction of that identity
)

// Txn is one transaction of a node, as GET /txns gives it.
type Txn struct {
	ID, Type, MTI, ProcCode string
	Amount                  int64
	Status, RC, AuthCode    string
	RRN, Day                string
	Batch                   uint64
	OriginalID, Terminal    string
	Acquirer                string
	// AcqSTAN and AcqTime are the DE11 and DE7 the acquirer saw: with the
	// class of MTI and Terminal, the transaction's identity there.
	AcqSTAN, AcqTime string
	StandIn          bool
	// Repeat: the acquirer was asked (also) by a repeat (xx01) of this
	// transaction, so it may have seen its identity twice.
	Repeat bool
}

// TxnFrom converts the admin API's transaction.
func TxnFrom(t adminapi.Txn) Txn {
	return Txn{
		ID: t.ID, Type: t.Type, MTI: t.MTI, ProcCode: t.ProcCode, Amount: t.Amount,
		Status: t.Status, RC: t.RC, AuthCode: t.AuthCode, RRN: t.RRN, Day: t.Day, Batch: t.Batch,
		OriginalID: t.OriginalID, Terminal: t.Terminal, Acquirer: t.Acquirer,
		AcqSTAN: t.AcqSTAN, AcqTime: t.AcqTime, StandIn: t.StandIn, Repeat: t.Repeat,
	}
}

// Node is everything Run needs of one node, read at quiescence.
type Node struct {
	ID           string
	AppliedIndex uint64
	Hash         string // SHA-256 of the state at AppliedIndex (GET /hash)
	Txns         []Txn
	Leaders      []Leader
	Totals       map[string]Sum // GET /totals net, by kind
	SAFDepth     int            // entries owed to acquirers, summed
}

// Leader is one (term, leader) a node saw.
type Leader struct {
	Term     uint64
	LeaderID string
	At       time.Time // when the node learnt of it (for the report only)
}

// Sum is a count and an amount in minor units.
type Sum struct{ Count, Amount int64 }

// SumsFrom converts the admin API's totals.
func SumsFrom(m map[string]adminapi.Sum) map[string]Sum {
	out := make(map[string]Sum, len(m))
	for k, s := range m {
		out[k] = Sum{Count: s.Count, Amount: s.Amount}
	}
	return out
}

// AcqRecord is one record of the acquirer simulator's ledger (acqsim's
// GET /ledger, the same JSON): one per identity it received.
type AcqRecord struct {
	// Key is class(4) + DE41(8) + DE11(6) + DE7(10).
	Key   string `json:"key"`
	Class string `json:"class"` // 0100, 0120, 0200, 0220, 0400
	// Kind is purchase, refund, cashback, balance, preauth, completion or
	// reversal; "" for a tombstone.
	Kind     string `json:"kind"`
	Amount   int64  `json:"amount"`
	RC       string `json:"rc"`
	AuthCode string `json:"auth_code"`
	RRN      string `json:"rrn"`
	Day      string `json:"day"`
	// Original is the key of the record a reversal, completion or advice
	// names, "" otherwise.
	Original    string `json:"original"`
	Reversed    bool   `json:"reversed"`
	ReversedDay string `json:"reversed_day"`
	// Tombstone: a reversal named this identity before (or without) it.
	Tombstone bool `json:"tombstone"`
	StandIn   bool `json:"stand_in"`
	// Advice: a stand-in 0220 or an 0120 booked under its own identity.
	Advice bool `json:"advice"`
	// Requests counts the frames of this identity processed (first and
	// repeats answered from the ledger); Repeats those with a repeat MTI;
	// Refused those refused as a duplicate transmission or a STAN reuse.
	Requests int `json:"requests"`
	Repeats  int `json:"repeats"`
	Refused  int `json:"refused"`
}

// effect reports a record that moved money (or, for a balance inquiry,
// stands approved): approved, not a tombstone, not reversed, not itself a
// reversal.
func (r *AcqRecord) effect() bool {
	return r.approved() && !r.Reversed
}

// approved reports an approval, reversed later or not.
func (r *AcqRecord) approved() bool {
	return r.RC == wire.RCApproved && !r.Tombstone && r.Kind != "" && r.Kind != kindReversal
}

// Fault is one fault a harness injected, for the report: the violations of
// identities whose history overlaps it list it.
type Fault struct {
	Kind   string // e.g. "acquirer-down", "leader-stop", "commit-fail"
	Target string // a node id, "acquirer", a register
	At     time.Time
	End    time.Time // zero for an instantaneous fault
}

// Input is a run to judge.
type Input struct {
	History  []history.Event
	Nodes    []Node
	Acquirer []AcqRecord
	Faults   []Fault
	// RegisterQueues is the number of entries still queued in the
	// registers' store-and-forward queues at the end.
	RegisterQueues int
	// SkipAcquirer: no ledger was read (no acquirer simulator). The
	// acquirer rules are then not checked, and the report says so; an
	// empty Acquirer without it means the acquirer recorded nothing.
	SkipAcquirer bool
}

// Violation is one broken rule.
type Violation struct {
	Invariant string // "I1".."I8"
	// ID is the register identity (DE41+DE11+DE7), or what else the rule
	// is about: an acquirer key, a node, a file.
	ID     string
	Detail string
	// Facts are what each node and the acquirer hold for the identity.
	Facts []string
	// History is every event of the identity: its requests, its queue
	// entries, and the reversals naming it.
	History []history.Event
	// Faults are the injected faults that overlap the identity's history.
	Faults []Fault
}

// Report is the verdict on a run.
type Report struct {
	// Identities counts the register identities in the history; Approved,
	// Declined, Unknown and NotSent split them by what the register holds
	// (a request that failed locally counts as not sent); Reversed counts
	// those a register reversed with an acknowledged reversal.
	Identities, Approved, Declined, Unknown, NotSent, Reversed int
	Nodes, AcqRecords, Faults                                  int
	// Skipped names the checks not done, and why.
	Skipped    []string
	Violations []Violation
}

// OK reports no violation.
func (r Report) OK() bool { return len(r.Violations) == 0 }

// ByInvariant counts the violations of each invariant.
func (r Report) ByInvariant() map[string]int {
	out := map[string]int{}
	for _, v := range r.Violations {
		out[v.Invariant]++
	}
	return out
}

// netKinds count in totals (balance inquiries and reversals never do).
var netKinds = map[string]bool{
	wire.KindPurchase.String(): true, wire.KindRefund.String(): true, wire.KindCashback.String(): true,
	wire.KindPreAuth.String(): true, wire.KindCompletion.String(): true,
}

// kindReversal is the kind of a reversal, as the node and the acquirer name it.
var kindReversal = wire.KindReversal.String()

// cloneSums copies m without balance inquiries (they never count) and
// without zero sums, so that totals of different sources compare directly.
// Any other kind is kept: a kind no source should have shows as a
// difference instead of vanishing.
func cloneSums(m map[string]Sum) map[string]Sum {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]Sum{}
	}
	for k, s := range out {
		if k == "balance" || s == (Sum{}) {
			delete(out, k)
		}
	}
	return out
}
