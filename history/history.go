package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// Kind says what an Event records.
type Kind string

// Kinds of events.
const (
	// Request is one call of a register to the cluster: from the moment it
	// was handed to the client (Invoke) to the answer, or the client giving
	// up (Return).
	Request Kind = "request"
	// Queued: the register's client put a message in its durable
	// store-and-forward queue (a reversal of a request whose outcome it
	// does not know, or a reversal or advice not yet acknowledged).
	Queued Kind = "queued"
	// Acked: a queued message was acknowledged (RC holds the answer).
	Acked Kind = "acked"
)

// Outcomes of a Request.
const (
	Answered = "answered" // an answer came: RC, AuthCode, RRN, Node are set
	Unknown  = "unknown"  // bytes left, no answer: the client queued a reversal
	NotSent  = "not_sent" // provably never reached a node
	Failed   = "error"    // anything else (a local error before sending)
)

// Event is one line of a history.
type Event struct {
	Kind     Kind   `json:"kind"`
	Register string `json:"register"` // DE41
	// ID is the identity of the message itself: DE41 + DE11 + DE7.
	ID       string `json:"id"`
	MTI      string `json:"mti"` // as first sent: 0200, never 0201
	ProcCode string `json:"de3,omitempty"`
	Amount   int64  `json:"de4,omitempty"`
	Original string `json:"de90,omitempty"`
	// Of is, for Queued and Acked, the identity of the request the entry
	// settles: the purchase a queued 0400 reverses, or the queued
	// reversal/advice itself when that is what went unanswered.
	Of       string `json:"of,omitempty"`
	Invoke   int64  `json:"invoke"`           // unix nanos
	Return   int64  `json:"return,omitempty"` // unix nanos; Request only
	Outcome  string `json:"outcome,omitempty"`
	RC       string `json:"de39,omitempty"`
	AuthCode string `json:"de38,omitempty"`
	RRN      string `json:"de37,omitempty"`
	Node     string `json:"node,omitempty"` // DE48 ND of the answer
}

// OriginalID is the identity DE90 names (same terminal, its STAN and DE7),
// or "" when the event has no DE90.
func (e *Event) OriginalID() string {
	if len(e.Original) < 20 {
		return ""
	}
	return e.Register + e.Original[4:10] + e.Original[10:20]
}

// OriginalMTI is the MTI DE90 names, or "".
func (e *Event) OriginalMTI() string {
	if len(e.Original) < 4 {
		return ""
	}
	return e.Original[:4]
}

// RequestEvent builds the Request event of req. resp is the answer (nil
// without one); outcome one of Answered, Unknown, NotSent, Failed.
func RequestEvent(req *wire.Message, invoke, ret time.Time, resp *wire.Message, outcome string) Event {
	e := messageEvent(Request, req)
	e.Invoke, e.Return, e.Outcome = invoke.UnixNano(), ret.UnixNano(), outcome
	if resp != nil {
		e.RC, e.AuthCode, e.RRN = resp.ResponseCode, resp.AuthCode, resp.RRN
		e.Node, _ = resp.Private.Get(wire.TagNodeID)
	}
	return e
}

// QueueEvent builds a Queued or Acked event for the queued message m,
// settling the request of identity of; rc is the acknowledging answer.
func QueueEvent(kind Kind, of string, m *wire.Message, rc string, at time.Time) Event {
	e := messageEvent(kind, m)
	e.Of, e.RC, e.Invoke = of, rc, at.UnixNano()
	return e
}

func messageEvent(kind Kind, m *wire.Message) Event {
	return Event{
		Kind: kind, Register: m.TerminalID, ID: m.Key(), MTI: wire.OriginalMTI(m.MTI),
		ProcCode: m.ProcCode, Amount: m.Amount, Original: m.OriginalData,
	}
}

// Log collects events; it is safe for concurrent use. With a file, every
// event is also written there as one JSON line.
type Log struct {
	mu     sync.Mutex
	events []Event
	w      *bufio.Writer
	line   []byte // the last line encoded, kept for the next
	f      *os.File
	err    error
}

// New returns an in-memory log.
func New() *Log { return &Log{} }

// Create returns a log that also writes to path (created or truncated).
func Create(path string) (*Log, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return &Log{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// Add records e.
func (l *Log) Add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	if l.w != nil && l.err == nil {
		b, err := appendJSON(l.line[:0], &e)
		if err == nil {
			b = append(b, '\n')
			_, err = l.w.Write(b)
		}
		l.line, l.err = b, err
	}
}

// Events returns a copy of every event so far, in the order added.
func (l *Log) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// Len is the number of events so far.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// Close flushes and closes the file, if any, and reports the first write
// error.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	if err := l.w.Flush(); err != nil && l.err == nil {
		l.err = err
	}
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = err
	}
	l.f, l.w = nil, nil
	if l.err != nil {
		return fmt.Errorf("history: %w", l.err)
	}
	return nil
}

// Read decodes a JSON-lines history.
func Read(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("history: line %d: %w", line, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

// ReadFile reads a history file written by Create.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	return Read(f)
}
