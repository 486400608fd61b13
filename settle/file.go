package settle

import (
	"errors"
	"fmt"
)

// Row types.
const (
	TypePurchase   = "purchase"
	TypeRefund     = "refund"
	TypeCashback   = "cashback"
	TypeCompletion = "completion"
	TypeReversal   = "reversal" // a reversal approved after its original's day was settled
)

// Row statuses.
const (
	StatusApproved = "approved"
	StatusReversed = "reversed"
)

// Row is one transaction in tillgate's settlement file of one day and acquirer.
type Row struct {
	Seq                    uint64 // the record's sequence number (Raft index of its INTENT): rows are in Seq order
	RRN                    string
	TerminalID, MerchantID string
	STAN, TransmissionTime string // the register's identity (DE11, DE7)
	AcqSTAN, AcqTime       string // the identity the acquirer saw
	Type                   string // purchase, refund, cashback, completion, reversal
	MTI, ProcCode          string
	Amount                 int64 // minor units, always >= 0
	Currency               string
	Status                 string // "approved" or "reversed"
	RC, AuthCode           string
	StandIn                bool
	OriginalRRN            string // completion, reversal: the original's RRN ("" if unknown)
	OriginalDay            string // a reversal row: the business day of the original it reverses (an earlier, already settled day)
	Net                    int64  // signed effect on the day's net: debit (purchase, cashback, completion) approved +Amount; refund approved -Amount; reversed 0; a reversal row -(the original's effect)
	At                     int64  // unix nanos, when the transaction was recorded
}

// File is tillgate's settlement file for one business day and one acquirer.
type File struct {
	Day, Acquirer      string // YYYYMMDD, acquirer name
	OpenedAt, ClosedAt int64  // unix nanos of the cutovers that opened and closed the day (from the log)
	Index              uint64 // Raft index of the command that settled the day
	Rows               []Row
}

// ErrInvalid is wrapped by every error of Validate: the File is not one
// the node can have produced, so it is not written.
var ErrInvalid = errors.New("settle: invalid file")

// Validate checks what the writers and ReadCSV rely on: rows in strictly
// increasing Seq order, amounts >= 0, known types and statuses, and each
// row's Net following from its type, status and amount (a reversal row,
// always approved, nets +Amount or -Amount: the opposite of its original,
// whose type is not in the row).
func (f *File) Validate() error {
	var prev uint64
	for i := range f.Rows {
		if err := f.Rows[i].validate(prev, i); err != nil {
			return fmt.Errorf("%w: row %d (seq %d, rrn %q): %w", ErrInvalid, i+1, f.Rows[i].Seq, f.Rows[i].RRN, err)
		}
		prev = f.Rows[i].Seq
	}
	return nil
}

func (r *Row) validate(prev uint64, i int) error {
	switch {
	case i > 0 && r.Seq <= prev:
		return fmt.Errorf("seq not after %d", prev)
	case r.Amount < 0:
		return fmt.Errorf("negative amount %d", r.Amount)
	case r.Status != StatusApproved && r.Status != StatusReversed:
		return fmt.Errorf("status %q", r.Status)
	case r.Type == TypeReversal && r.Status != StatusApproved:
		return errors.New("a reversal row is always approved")
	case r.Type == TypeReversal && r.Net != r.Amount && r.Net != -r.Amount:
		return fmt.Errorf("reversal net %d, want +-%d", r.Net, r.Amount)
	case r.Type == TypeReversal:
		return nil
	}
	want, err := effect(r.Type, r.Status, r.Amount)
	if err != nil {
		return err
	}
	if r.Net != want {
		return fmt.Errorf("net %d, want %d for %s %s %d", r.Net, want, r.Status, r.Type, r.Amount)
	}
	return nil
}

// effect is the Net of a row that is not a reversal row.
func effect(typ, status string, amount int64) (int64, error) {
	var sign int64
	switch typ {
	case TypePurchase, TypeCashback, TypeCompletion:
		sign = 1
	case TypeRefund:
		sign = -1
	default:
		return 0, fmt.Errorf("type %q", typ)
	}
	if status == StatusReversed {
		return 0, nil
	}
	return sign * amount, nil
}

// Trailer is the summary of a File's rows, written after them so that a
// truncated or edited file is detected. Debits are approved purchases,
// cashbacks and completions; Credits approved refunds; Reversed the rows of
// the day reversed (net 0); Reversals the reversal rows of earlier days'
// originals. Amounts are unsigned sums; Net is the sum of the rows' Net.
type Trailer struct {
	Rows           int64 `json:"rows"`
	Debits         int64 `json:"debits"`
	DebitAmount    int64 `json:"debit_amount"`
	Credits        int64 `json:"credits"`
	CreditAmount   int64 `json:"credit_amount"`
	Reversed       int64 `json:"reversed"`
	ReversedAmount int64 `json:"reversed_amount"`
	Reversals      int64 `json:"reversals"`
	ReversalAmount int64 `json:"reversal_amount"`
	Net            int64 `json:"net"`
}

// Trailer computes the trailer from the rows.
func (f *File) Trailer() Trailer {
	var t Trailer
	for i := range f.Rows {
		t.add(&f.Rows[i])
	}
	return t
}

func (t *Trailer) add(r *Row) {
	t.Rows++
	t.Net += r.Net
	switch {
	case r.Type == TypeReversal:
		t.Reversals++
		t.ReversalAmount += r.Amount
	case r.Status == StatusReversed:
		t.Reversed++
		t.ReversedAmount += r.Amount
	case r.Type == TypeRefund:
		t.Credits++
		t.CreditAmount += r.Amount
	default:
		t.Debits++
		t.DebitAmount += r.Amount
	}
}

// trailerField is one named count or amount, in the trailer's column order.
type trailerField struct {
	name string
	v    *int64
}

func (t *Trailer) fields() []trailerField {
	return []trailerField{
		{"rows", &t.Rows}, {"debits", &t.Debits}, {"debit_amount", &t.DebitAmount},
		{"credits", &t.Credits}, {"credit_amount", &t.CreditAmount},
		{"reversed", &t.Reversed}, {"reversed_amount", &t.ReversedAmount},
		{"reversals", &t.Reversals}, {"reversal_amount", &t.ReversalAmount}, {"net", &t.Net},
	}
}

// diff names each field where the written trailer t differs from the
// rows' sums.
func (t Trailer) diff(rows Trailer) []string {
	var out []string
	tf, rf := t.fields(), rows.fields()
	for i := range tf {
		if *tf[i].v != *rf[i].v {
			out = append(out, fmt.Sprintf("%s %d in the trailer, %d in the rows", tf[i].name, *tf[i].v, *rf[i].v))
		}
	}
	return out
}
