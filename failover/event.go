package failover

import (
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// State is the client's connection state.
type State int32

// States; see DESIGN.md.
const (
	StateConnecting State = iota // dialling and signing on
	StateOnline                  // a connection to the active is up
	StateHolding                 // no active known: new requests wait up to Hold
	StateOffline                 // fail fast until the next probe
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateOnline:
		return "online"
	case StateHolding:
		return "holding"
	case StateOffline:
		return "offline"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	EventState      EventKind = iota // State changed
	EventActive                      // Addr is the new active
	EventFailover                    // first answer after the active was lost; Recovery set
	EventBreaker                     // Addr's breaker opened (Open) or closed
	EventTimeout                     // an attempt for Key got no answer in time
	EventRepeat                      // a repeat (xx01) of Key was sent
	EventResend                      // Key resent unchanged after "not processed"
	EventUnknown                     // Key ended with ErrOutcomeUnknown
	EventLateAnswer                  // an answer for Key came after its Do gave up on it
	// EventReversalQueued: an entry settling the request Key became due
	// (its Do ended without an outcome, or its reversal or advice was
	// answered 30/91/96, or it was left written ahead by a crash and found
	// at Open). Msg (the queued message) and QueueDepth set. The
	// write-ahead of a request that gets its answer reports nothing.
	EventReversalQueued
	// EventReversalAcked: a node acknowledged the entry settling Key (any
	// answer but NP, 30, 91, 96); Msg, RC and Attempts set.
	EventReversalAcked
	EventQueue // queue depth and oldest age (after each pass)
	EventAlert // the entry for Key failed Attempts times
	// EventReversalRetry: a try of the entry settling Key was not
	// acknowledged (no answer, NP, 30/91/96, or it could not be sent);
	// Msg, RC (when answered), Attempts, Err, and Retry (the backoff) set.
	EventReversalRetry
)

var kindNames = [...]string{"state", "active", "failover", "breaker", "timeout", "repeat", "resend",
	"unknown", "late_answer", "reversal_queued", "reversal_acked", "queue", "alert", "reversal_retry"}

func (k EventKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event reports something a register operator wants to see. Only the
// fields of its Kind are set.
type Event struct {
	Kind  EventKind
	Time  time.Time
	State State
	Addr  string
	// Key is DE41 + DE11 + DE7 of the transaction concerned; for the
	// queue's events, of the request the entry settles (history's Of).
	Key string
	RC  string // EventLateAnswer, EventReversalAcked, EventReversalRetry: the answer's DE39
	// Msg is the queued message: for EventReversalQueued as stored (a 0400
	// reversal, or a reversal or advice the register's own Do could not
	// settle, as its repeat xx01), for EventReversalAcked and
	// EventReversalRetry as it was last sent. With RC, what a register
	// needs to count the reversal in its batch totals. Never track, PIN or
	// ICC data (see settlementFor).
	Msg        *wire.Message
	Open       bool // EventBreaker
	Recovery   time.Duration
	Attempts   int
	Retry      time.Duration // EventReversalRetry: the wait before the next try
	QueueDepth int
	OldestAge  time.Duration
	Err        error
}

// Stats is a snapshot of the client's counters.
type Stats struct {
	State                             State
	Active                            string
	Requests, Answered, Approved      int64
	NotSent, Unknown                  int64
	Timeouts, Repeats, Resends        int64
	LateAnswers, Failovers            int64
	LastRecovery                      time.Duration
	ReversalsQueued, ReversalsAcked   int64
	QueueDepth                        int
	QueueOldest                       time.Duration
	BreakersOpen, Dials, DialFailures int64
	// HintsIgnored counts DE48 AN hints naming a node not in Config.Nodes.
	HintsIgnored int64
}

// counters are the live values behind Stats.
type counters struct {
	requests, answered, approved, notSent, unknown atomic.Int64
	timeouts, repeats, resends, late, failovers    atomic.Int64
	lastRecovery, revQueued, revAcked              atomic.Int64
	queueDepth, queueOldest, breakersOpen          atomic.Int64
	dials, dialFailures, hintsIgnored              atomic.Int64
}
