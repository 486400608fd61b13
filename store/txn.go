package store

import (
	"strconv"

	"github.com/tillgate/tillgate/wire"
)

// TxnType is the type a transaction is stored as: the kind it books as
// (wire.Kind.Booked), numbered for the encoding. Zero is not a type, so a
// Txn built without one is caught by Apply. TypeOf maps a wire.Kind to it.
type TxnType uint8

// Transaction types. The numbers are stored: never renumber them.
const (
	TypePurchase   TxnType = iota + 1 // 0200, DE3 00xxxx
	TypeRefund                        // 0200, DE3 20xxxx
	TypeCashback                      // 0200, DE3 09xxxx
	TypeBalance                       // 0200, DE3 31xxxx: no money moves
	TypePreAuth                       // 0100, and its advice 0120
	TypeCompletion                    // 0220
	TypeReversal                      // 0400/0420
	TypeEcho                          // 0800: never stored (Apply refuses it)
)

// typeKinds maps each type to the kind it books as.
var typeKinds = [...]wire.Kind{
	TypePurchase: wire.KindPurchase, TypeRefund: wire.KindRefund, TypeCashback: wire.KindCashback,
	TypeBalance: wire.KindBalance, TypePreAuth: wire.KindPreAuth, TypeCompletion: wire.KindCompletion,
	TypeReversal: wire.KindReversal, TypeEcho: wire.KindNetwork,
}

// TypeOf is the type a transaction of kind k is stored as: an 0120 as a
// pre-auth, an 0420 as a reversal, and every 0220 as a completion: the
// cluster takes a register's 0220 as the completion of the approved
// transaction its DE90 names, whatever that was (a stand-in advice is a
// message the cluster sends its acquirers, not one it stores). 0 for a
// kind that is no transaction.
func TypeOf(k wire.Kind) TxnType {
	if k == wire.KindStandInAdvice {
		return TypeCompletion
	}
	k = k.Booked("")
	for t, tk := range typeKinds {
		if t > 0 && tk == k {
			return TxnType(t)
		}
	}
	return 0
}

// Kind is the wire kind the type books as (wire.KindNone for no type).
func (t TxnType) Kind() wire.Kind {
	if int(t) < len(typeKinds) {
		return typeKinds[t]
	}
	return wire.KindNone
}

// String is the type's name: its kind's ("purchase", "refund", ...), and
// "echo" for TypeEcho. For the types that count in Totals it is the
// Totals kind.
func (t TxnType) String() string {
	switch k := t.Kind(); {
	case t == TypeEcho:
		return "echo"
	case k != wire.KindNone:
		return k.String()
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// storable reports whether Apply records transactions of this type.
func (t TxnType) storable() bool { return t >= TypePurchase && t <= TypeReversal }

// inNet reports whether approved transactions of this type count in
// Totals.Net (money moved; reversals act on their original instead).
func (t TxnType) inNet() bool { return t.storable() && t != TypeBalance && t != TypeReversal }

// Status is where a transaction stands. Zero is not a status.
type Status uint8

// Statuses.
const (
	StatusPending  Status = iota + 1 // INTENT committed, no OUTCOME yet
	StatusApproved                   // final
	StatusDeclined                   // final
	StatusUnknown                    // the acquirer may or may not have approved it: a reversal is owed
	StatusReversed                   // was approved (or unknown), then reversed: final
)

func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusApproved:
		return "approved"
	case StatusDeclined:
		return "declined"
	case StatusUnknown:
		return "unknown"
	case StatusReversed:
		return "reversed"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

func (s Status) valid() bool { return s >= StatusPending && s <= StatusReversed }

// open reports whether an OUTCOME may still set the status.
func (s Status) open() bool { return s == StatusPending || s == StatusUnknown }

// Txn is one transaction as the replicated state keeps it. It never holds
// the clear PAN, track data, PIN block or CVV.
type Txn struct {
	ID               string // identity: TerminalID(8) + STAN(6) + TransmissionTime(10)
	Type             TxnType
	MTI, ProcCode    string
	Amount           int64 // minor units
	Currency         string
	TerminalID       string
	MerchantID       string
	STAN             string
	TransmissionTime string // DE7 MMDDhhmmss
	LocalTime        string
	LocalDate        string
	PANEnc           []byte // sealed by a Vault
	BIN, Last4       string
	PANHash          []byte // Vault.Hash: equal cards, equal hashes
	// The exact identity the acquirer sees, so that a repeat sent later by
	// any node is the same transaction to it.
	Acquirer, AcqSTAN, AcqTime, RRN string
	OriginalID                      string // reversal/completion: the ID of the original
	Status                          Status
	RC, AuthCode                    string
	StandIn                         bool
	Day                             string // business day YYYYMMDD, set by Apply
	CreatedAt, UpdatedAt            int64  // unix nanos stamped by the leader in the command
	// Batch is the number of the terminal's register batch open when the
	// INTENT was applied, set by Apply (batch.go).
	Batch uint64
	// Repeat: the acquirer was asked (also) by a repeat of this
	// transaction (Outcome.Repeat).
	Repeat bool
}

// Kind is the wire kind of t's own message (its MTI and DE3). A stored
// 0220 is a completion (see TypeOf).
func (t *Txn) Kind() wire.Kind { return wire.Classify(t.MTI, t.ProcCode, "") }

// txnVersion leads every encoded Txn.
const txnVersion = 3 // 2: Batch; 3: Repeat

// appendTxn appends the encoding of t to b. The field order is the format:
// append new fields at the end under a new txnVersion.
func appendTxn(b []byte, t *Txn) []byte {
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
	w.int(int64(t.Batch))
	w.bool(t.Repeat)
	return w.b
}

// readTxn decodes one Txn from r. Strings and byte slices are copies, so
// the result outlives the buffer (and the bbolt transaction) it came from.
func readTxn(r *reader) *Txn {
	if v := r.byte(); v != txnVersion && r.err == nil {
		r.failf("record version %d", v)
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
	t.Batch = uint64(r.int())
	t.Repeat = r.bool()
	return t
}

// decodeTxn decodes a stored record.
func decodeTxn(b []byte) (*Txn, error) {
	r := reader{b: b}
	t := readTxn(&r)
	if err := r.done(); err != nil {
		return nil, err
	}
	return t, nil
}
