package store

import (
	"errors"
	"fmt"
)

// TxnType is the kind of a transaction.
type TxnType uint8

// Transaction kinds.
const (
	TypePurchase TxnType = iota + 1
	TypeRefund
	TypeCashback
	TypeBalance
	TypePreAuth
	TypeCompletion
	TypeReversal
)

var typeNames = map[TxnType]string{
	TypePurchase: "purchase", TypeRefund: "refund", TypeCashback: "cashback", TypeBalance: "balance",
	TypePreAuth: "preauth", TypeCompletion: "completion", TypeReversal: "reversal",
}

func (t TxnType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Status is where a transaction stands.
type Status uint8

// Statuses. Unknown means the acquirer may or may not have authorized it: a
// reversal is owed.
const (
	StatusPending Status = iota + 1
	StatusApproved
	StatusDeclined
	StatusUnknown
	StatusReversed
)

var statusNames = map[Status]string{
	StatusPending: "pending", StatusApproved: "approved", StatusDeclined: "declined",
	StatusUnknown: "unknown", StatusReversed: "reversed",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Txn is one transaction as the replicated state keeps it. It never holds
// the clear PAN.
type Txn struct {
	ID               string // TerminalID(8) + STAN(6) + DE7(10)
	Type             TxnType
	MTI, ProcCode    string
	Amount           int64
	Currency         string
	TerminalID       string
	MerchantID       string
	STAN             string
	TransmissionTime string
	LocalTime        string
	LocalDate        string
	PANEnc           []byte
	BIN, Last4       string
	PANHash          []byte
	// The exact identity the acquirer sees, so that a repeat from any node
	// is the same transaction to it.
	Acquirer, AcqSTAN, AcqTime, RRN string
	OriginalID                      string
	Status                          Status
	RC, AuthCode                    string
	StandIn                         bool
	Day                             string // business day YYYYMMDD
	CreatedAt, UpdatedAt            int64  // unix nanos, stamped by the leader
}

// Errors.
var (
	// ErrNotFound: an OUTCOME names a transaction that has no INTENT.
	ErrNotFound = errors.New("store: transaction not found")
	// ErrCorrupt: bytes that do not decode as a command or a record.
	ErrCorrupt = errors.New("store: corrupt encoding")
	// ErrUnknownOp: a command of a newer version than this binary knows.
	ErrUnknownOp = errors.New("store: unknown command")
)

const txnVersion = 1

func (t *Txn) marshal(b []byte) []byte {
	w := writer{b: b}
	w.byte(txnVersion)
	w.str(t.ID)
	w.byte(byte(t.Type))
	w.str(t.MTI)
	w.str(t.ProcCode)
	w.int(t.Amount)
	w.str(t.Currency)
	w.str(t.TerminalID)
	w.str(t.MerchantID)
	w.str(t.STAN)
	w.str(t.TransmissionTime)
	w.str(t.LocalTime)
	w.str(t.LocalDate)
	w.bytes(t.PANEnc)
	w.str(t.BIN)
	w.str(t.Last4)
	w.bytes(t.PANHash)
	w.str(t.Acquirer)
	w.str(t.AcqSTAN)
	w.str(t.AcqTime)
	w.str(t.RRN)
	w.str(t.OriginalID)
	w.byte(byte(t.Status))
	w.str(t.RC)
	w.str(t.AuthCode)
	w.bool(t.StandIn)
	w.str(t.Day)
	w.int(t.CreatedAt)
	w.int(t.UpdatedAt)
	return w.b
}

func unmarshalTxn(b []byte) (*Txn, error) {
	r := reader{b: b}
	if v := r.byte(); v != txnVersion {
		return nil, fmt.Errorf("%w: record version %d", ErrCorrupt, v)
	}
	t := &Txn{}
	t.ID = r.str()
	t.Type = TxnType(r.byte())
	t.MTI = r.str()
	t.ProcCode = r.str()
	t.Amount = r.int()
	t.Currency = r.str()
	t.TerminalID = r.str()
	t.MerchantID = r.str()
	t.STAN = r.str()
	t.TransmissionTime = r.str()
	t.LocalTime = r.str()
	t.LocalDate = r.str()
	t.PANEnc = r.bytes()
	t.BIN = r.str()
	t.Last4 = r.str()
	t.PANHash = r.bytes()
	t.Acquirer = r.str()
	t.AcqSTAN = r.str()
	t.AcqTime = r.str()
	t.RRN = r.str()
	t.OriginalID = r.str()
	t.Status = Status(r.byte())
	t.RC = r.str()
	t.AuthCode = r.str()
	t.StandIn = r.bool()
	t.Day = r.str()
	t.CreatedAt = r.int()
	t.UpdatedAt = r.int()
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(r.b))
	}
	return t, nil
}
