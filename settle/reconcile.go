package settle

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/tillgate/tillgate/wire"
)

// Discrepancy kinds. The first five make a day unreconciled; the others
// are listed for the operator but do not (see Blocks).
const (
	// KindMissingAtAcquirer: an approved row of ours the acquirer's file
	// does not have.
	KindMissingAtAcquirer = "missing_at_acquirer"
	// KindMissingHere: a row of the acquirer's that is in no day of ours.
	KindMissingHere = "missing_here"
	// KindAmountMismatch: both sides have the RRN with different amounts.
	KindAmountMismatch = "amount_mismatch"
	// KindReversedOneSide: approved on one side, reversed on the other.
	KindReversedOneSide = "reversed_one_side"
	// KindBatchOutOfBalance: a register batch whose 0500 totals differ
	// from ours, or that the node marked out of balance.
	KindBatchOutOfBalance = "batch_out_of_balance"

	// KindBatchOpen: a batch with transactions of the day that was never
	// closed. Informational: its rows are reconciled one by one anyway;
	// the batch is compared when its 0500 arrives.
	KindBatchOpen = "batch_open"
	// KindReversedNotAtAcquirer: a row of ours reversed (an unknown
	// outcome tillgate reversed) that the acquirer has no row for: the
	// original never reached it, both sides net zero. Informational.
	KindReversedNotAtAcquirer = "reversed_not_at_acquirer"
	// KindCrossDayReversal: a reversal row of ours, reversing an earlier
	// day's original. The acquirer's file has no row for it (its export
	// folds reversals into their originals): it is listed, not matched.
	KindCrossDayReversal = "cross_day_reversal"
)

// kindOrder is the order of discrepancies in a report: blocking kinds
// first, as declared.
var kindOrder = []string{
	KindMissingAtAcquirer, KindMissingHere, KindAmountMismatch, KindReversedOneSide, KindBatchOutOfBalance,
	KindBatchOpen, KindReversedNotAtAcquirer, KindCrossDayReversal,
}

// Blocks reports whether a discrepancy of kind makes the day unreconciled.
func Blocks(kind string) bool {
	i := slices.Index(kindOrder, kind)
	return i >= 0 && i < 5
}

// Batch statuses.
const (
	BatchOpen              = "open"
	BatchClosed            = "closed"
	BatchOutOfBalance      = "out_of_balance"
	BatchClosedAfterUpload = "closed_after_upload"
	BatchClosedByOperator  = "closed_by_operator"
)

// Batch is one register batch that holds transactions of the day.
type Batch struct {
	Terminal       string
	Number         uint64
	Status         string // open | closed | out_of_balance | closed_after_upload | closed_by_operator
	Register, Ours wire.Totals
	HasRegister    bool // a 0500 was received
}

// Input is what a day's reconciliation compares.
type Input struct {
	Ours    *File
	Theirs  *AcquirerFile
	Batches []Batch
	// Elsewhere looks up, by RRN, an acquirer row that is not in Ours: the
	// business day it belongs to here, if any (it then is not a
	// discrepancy of this day, only listed as in another day). nil: none.
	Elsewhere func(rrn string) (day string, ok bool)
}

// Totals sums one side's rows: Approved and Reversed count the rows of
// each status (amounts unsigned), Net is their signed effect. Ours leaves
// out cross-day reversal rows (see Report.CrossDay).
type Totals struct {
	Rows           int64 `json:"rows"`
	Approved       int64 `json:"approved"`
	ApprovedAmount int64 `json:"approved_amount"`
	Reversed       int64 `json:"reversed"`
	ReversedAmount int64 `json:"reversed_amount"`
	Net            int64 `json:"net"`
}

func (t *Totals) add(status string, amount, net int64) {
	t.Rows++
	t.Net += net
	if status == StatusReversed {
		t.Reversed++
		t.ReversedAmount += amount
	} else {
		t.Approved++
		t.ApprovedAmount += amount
	}
}

// Discrepancy is one difference, or one informational entry (Blocking
// false), of a reconciliation.
type Discrepancy struct {
	Kind       string       `json:"kind"`
	Blocking   bool         `json:"blocking"`
	RRN        string       `json:"rrn,omitempty"`
	TerminalID string       `json:"terminal_id,omitempty"`
	Batch      uint64       `json:"batch,omitempty"` // batch kinds: the batch number
	Ours       *Row         `json:"ours,omitempty"`
	Theirs     *AcquirerRow `json:"theirs,omitempty"`
	Detail     string       `json:"detail"`
}

// OtherDay is an acquirer row that belongs to another business day here.
type OtherDay struct {
	Day    string      `json:"day"`
	Theirs AcquirerRow `json:"theirs"`
}

// BatchResult is one batch as compared.
type BatchResult struct {
	Terminal    string      `json:"terminal"`
	Number      uint64      `json:"number"`
	Status      string      `json:"status"`
	HasRegister bool        `json:"has_register"`
	Register    wire.Totals `json:"register"`
	Ours        wire.Totals `json:"ours"`
	Balanced    bool        `json:"balanced"` // the 0500 totals equal ours (false without a 0500)
	Differences []string    `json:"differences,omitempty"`
}

// Report is the outcome of one day's reconciliation with one acquirer.
type Report struct {
	Day, Acquirer string
	// OursFrom/To is the day's window (its cutovers), TheirsFrom/To the
	// acquirer file's: they should be equal.
	OursFrom, OursTo, TheirsFrom, TheirsTo int64
	Reconciled                             bool // no blocking discrepancy
	Matched                                int  // pairs of rows that agree
	Ours, Theirs                           Totals
	CrossDay                               Totals // our reversal rows of earlier days' originals
	Discrepancies                          []Discrepancy
	InOtherDays                            []OtherDay
	Batches                                []BatchResult
}

// Reconcile compares our file of a day with the acquirer's and with the
// day's batches. Rows are matched by RRN and terminal; each acquirer row
// matches at most one of ours. See the Kind constants for what each
// difference means; the report is a pure function of in.
func Reconcile(in Input) *Report {
	ours, theirs := in.Ours, in.Theirs
	if ours == nil {
		ours = &File{}
	}
	if theirs == nil {
		theirs = &AcquirerFile{}
	}
	r := &Report{Day: ours.Day, Acquirer: cmp.Or(ours.Acquirer, theirs.Acquirer),
		OursFrom: ours.OpenedAt, OursTo: ours.ClosedAt, TheirsFrom: theirs.From, TheirsTo: theirs.To}
	m := newMatcher(theirs)
	for i := range ours.Rows {
		r.ourRow(m, ours.Rows[i])
	}
	for i := range m.theirs {
		t := &theirs.Rows[i]
		r.Theirs.add(t.Status, t.Amount, t.net())
		if !m.used[i] {
			r.theirRow(in.Elsewhere, theirs.Rows[i])
		}
	}
	for _, b := range in.Batches {
		r.batch(b)
	}
	r.finish()
	return r
}

// matcher indexes the acquirer's rows by RRN and terminal.
type matcher struct {
	theirs []AcquirerRow
	used   []bool
	byKey  map[[2]string][]int // RRN, terminal -> rows in file order
	byRRN  map[string][]int
}

func newMatcher(f *AcquirerFile) *matcher {
	m := &matcher{theirs: f.Rows, used: make([]bool, len(f.Rows)), byKey: map[[2]string][]int{}, byRRN: map[string][]int{}}
	for i, row := range f.Rows {
		k := [2]string{row.RRN, row.TerminalID}
		m.byKey[k] = append(m.byKey[k], i)
		m.byRRN[row.RRN] = append(m.byRRN[row.RRN], i)
	}
	return m
}

// take returns the first unused acquirer row with rrn and terminal.
func (m *matcher) take(rrn, terminal string) (AcquirerRow, bool) {
	for _, i := range m.byKey[[2]string{rrn, terminal}] {
		if !m.used[i] {
			m.used[i] = true
			return m.theirs[i], true
		}
	}
	return AcquirerRow{}, false
}

// otherTerminal names a terminal other than terminal under which the
// acquirer has rrn, if any.
func (m *matcher) otherTerminal(rrn, terminal string) string {
	for _, i := range m.byRRN[rrn] {
		if t := m.theirs[i].TerminalID; t != terminal {
			return t
		}
	}
	return ""
}

func (r *Report) add(kind string, ours *Row, theirs *AcquirerRow, detail string) {
	d := Discrepancy{Kind: kind, Blocking: Blocks(kind), Ours: ours, Theirs: theirs, Detail: detail}
	if ours != nil {
		d.RRN, d.TerminalID = ours.RRN, ours.TerminalID
	} else if theirs != nil {
		d.RRN, d.TerminalID = theirs.RRN, theirs.TerminalID
	}
	r.Discrepancies = append(r.Discrepancies, d)
}

// ourRow matches one of our rows (a copy, kept by the report).
func (r *Report) ourRow(m *matcher, row Row) {
	if row.Type == TypeReversal {
		r.CrossDay.add(row.Status, row.Amount, row.Net)
		r.add(KindCrossDayReversal, &row, nil, fmt.Sprintf("reverses RRN %s of day %s: net %d in this day",
			cmp.Or(row.OriginalRRN, "(unknown)"), cmp.Or(row.OriginalDay, "(unknown)"), row.Net))
		return
	}
	r.Ours.add(row.Status, row.Amount, row.Net)
	theirs, ok := m.take(row.RRN, row.TerminalID)
	if !ok {
		r.unmatchedOurs(m, row)
		return
	}
	agree := true
	if row.Status != theirs.Status {
		agree = false
		r.add(KindReversedOneSide, &row, &theirs, fmt.Sprintf("%s here, %s at the acquirer", row.Status, theirs.Status))
	}
	if row.Amount != theirs.Amount {
		agree = false
		r.add(KindAmountMismatch, &row, &theirs, fmt.Sprintf("amount %d here, %d at the acquirer", row.Amount, theirs.Amount))
	}
	if agree {
		r.Matched++
	}
}

func (r *Report) unmatchedOurs(m *matcher, row Row) {
	var notes []string
	if t := m.otherTerminal(row.RRN, row.TerminalID); t != "" {
		notes = append(notes, "the acquirer has this RRN for terminal "+t)
	}
	if row.Status == StatusReversed && len(notes) == 0 {
		r.add(KindReversedNotAtAcquirer, &row, nil, "reversed here, no row at the acquirer: both sides net 0")
		return
	}
	if row.StandIn {
		notes = append(notes, "stand-in approval: is its advice still in the store-and-forward queue?")
	}
	notes = append(notes, fmt.Sprintf("%s %s %d", row.Status, row.Type, row.Amount))
	r.add(KindMissingAtAcquirer, &row, nil, strings.Join(notes, "; "))
}

func (r *Report) theirRow(elsewhere func(string) (string, bool), row AcquirerRow) {
	if elsewhere != nil {
		if day, ok := elsewhere(row.RRN); ok && day != r.Day {
			r.InOtherDays = append(r.InOtherDays, OtherDay{Day: day, Theirs: row})
			return
		}
	}
	r.add(KindMissingHere, nil, &row, fmt.Sprintf("%s %s %d at the acquirer, in no day here", row.Status, row.Kind, row.Amount))
}

// finish sorts the lists and decides Reconciled.
func (r *Report) finish() {
	slices.SortStableFunc(r.Discrepancies, func(a, b Discrepancy) int {
		return cmp.Or(
			cmp.Compare(slices.Index(kindOrder, a.Kind), slices.Index(kindOrder, b.Kind)),
			strings.Compare(a.RRN, b.RRN), strings.Compare(a.TerminalID, b.TerminalID), cmp.Compare(a.Batch, b.Batch))
	})
	slices.SortStableFunc(r.InOtherDays, func(a, b OtherDay) int {
		return cmp.Or(strings.Compare(a.Theirs.RRN, b.Theirs.RRN), strings.Compare(a.Day, b.Day))
	})
	r.Reconciled = true
	for _, d := range r.Discrepancies {
		if d.Blocking {
			r.Reconciled = false
		}
	}
}
