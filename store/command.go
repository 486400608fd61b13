package store

import "fmt"

// Op is a command's kind. New kinds get new numbers; an old binary answers
// them with ErrUnknownOp instead of guessing.
type Op uint8

// Commands.
const (
	OpIntent  Op = 1 // record a transaction before it goes to the acquirer
	OpOutcome Op = 2 // record the acquirer's (or the node's) answer
)

const cmdVersion = 1

// Result is what Apply returns for each command.
type Result struct {
	Txn     *Txn // the transaction as stored after the command
	Existed bool // an INTENT found its identity already recorded
	Err     error
}

// IntentCmd encodes the INTENT for t.
func IntentCmd(t *Txn) []byte {
	return t.marshal([]byte{cmdVersion, byte(OpIntent)})
}

// OutcomeCmd encodes the OUTCOME of transaction id.
func OutcomeCmd(id string, st Status, rc, authCode string, standIn bool, at int64) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpOutcome)}}
	w.str(id)
	w.byte(byte(st))
	w.str(rc)
	w.str(authCode)
	w.bool(standIn)
	w.int(at)
	return w.b
}

type outcome struct {
	id           string
	status       Status
	rc, authCode string
	standIn      bool
	at           int64
}

// command is a decoded command.
type command struct {
	op      Op
	intent  *Txn
	outcome outcome
}

func decodeCommand(b []byte) (command, error) {
	if len(b) < 2 {
		return command{}, fmt.Errorf("%w: command of %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != cmdVersion {
		return command{}, fmt.Errorf("%w: command version %d", ErrUnknownOp, b[0])
	}
	c := command{op: Op(b[1])}
	switch c.op {
	case OpIntent:
		t, err := unmarshalTxn(b[2:])
		if err != nil {
			return command{}, err
		}
		if t.ID == "" {
			return command{}, fmt.Errorf("%w: intent without id", ErrCorrupt)
		}
		c.intent = t
	case OpOutcome:
		r := reader{b: b[2:]}
		c.outcome = outcome{id: r.str(), status: Status(r.byte()), rc: r.str(), authCode: r.str(), standIn: r.bool(), at: r.int()}
		if r.err != nil {
			return command{}, r.err
		}
		if len(r.b) != 0 {
			return command{}, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(r.b))
		}
	default:
		return command{}, fmt.Errorf("%w: op %d", ErrUnknownOp, c.op)
	}
	return c, nil
}
