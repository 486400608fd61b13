package sim

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// SettlementColumns is the header row of the acquirer's settlement file.
// settle.AcquirerColumns must be the same list (acquirer/sim does not
// import settle, so the two are kept equal by hand, and the shared golden
// file settle/testdata/acquirer.csv checks it from both sides).
const SettlementColumns = "rrn,terminal,stan,transmission_time,mti,kind,amount,status,rc,auth_code,stand_in,received_at,reversed_at"

// Settlement statuses.
const (
	StatusApproved = "approved"
	StatusReversed = "reversed"
)

// SettlementRow is one transaction of the acquirer's settlement file.
type SettlementRow struct {
	RRN              string
	TerminalID       string // DE41
	STAN             string // DE11
	TransmissionTime string // DE7
	MTI              string // the class: 0200, or 0220 for a completion or a stand-in advice
	Kind             string // purchase, refund, cashback, completion
	Amount           int64  // minor units
	Status           string // approved, or reversed by a reversal received before the window's end
	RC, AuthCode     string
	StandIn          bool
	ReceivedAt       int64 // unix nanos
	ReversedAt       int64 // unix nanos; 0 unless Status is reversed
}

// settledKinds are the kinds that settle: money moves. Pre-auths (class
// 0100) and balance inquiries do not.
var settledKinds = map[string]bool{KindPurchase: true, KindRefund: true, KindCashback: true, KindCompletion: true}

// Settlement is the acquirer's settlement of the window [from, to): one
// row per approved financial record (classes 0200 and 0220: stand-in
// advices and completions) received in it, ordered by received time then
// key. Declines, pre-auths (0100, 0120), balance inquiries and reversal
// records are not rows; a reversal folds into its original, which is
// "reversed" if the reversal was received before to. So the export of a
// past window does not change when later reversals arrive. Records
// written before received times existed are never in a window. See
// foldAdvices for an original and its advice sharing one RRN.
func (l *Ledger) Settlement(from, to time.Time) ([]SettlementRow, error) {
	lo, hi := from.UnixNano(), to.UnixNano()
	var rows []keyedRow
	err := l.each(func(key string, r *record) {
		if (r.Class != wire.MTIFinancial && r.Class != wire.MTIFinancialAdvice) || !r.approved() || !settledKinds[r.Kind] || r.At < lo || r.At >= hi {
			return
		}
		rows = append(rows, keyedRow{key, r.Original, r.Advice, settlementRow(key, r, hi)})
	})
	if err != nil {
		return nil, err
	}
	rows = foldAdvices(rows)
	slices.SortFunc(rows, func(a, b keyedRow) int {
		if c := compareInt(a.row.ReceivedAt, b.row.ReceivedAt); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	out := make([]SettlementRow, len(rows))
	for i := range rows {
		out[i] = rows[i].row
	}
	return out, nil
}

// keyedRow is a row with the ledger facts the export orders and folds by.
type keyedRow struct {
	key, original string
	advice        bool
	row           SettlementRow
}

// foldAdvices drops the row of an original that was reversed and whose
// stand-in advice, in the same export, carries the same RRN and terminal:
// the client's approval replaced the host's own (answered too late and
// reversed), and one RRN is one transaction on the client's side, so two
// rows would not reconcile. An original still approved stays beside its
// advice: that is two approvals, which reconciliation must show.
func foldAdvices(rows []keyedRow) []keyedRow {
	named := map[string]SettlementRow{}
	for _, r := range rows {
		if r.advice && r.original != "" {
			named[r.original] = r.row
		}
	}
	if len(named) == 0 {
		return rows
	}
	return slices.DeleteFunc(rows, func(r keyedRow) bool {
		a, ok := named[r.key]
		return ok && r.row.Status == StatusReversed && a.RRN == r.row.RRN && a.TerminalID == r.row.TerminalID
	})
}

// settlementRow is r as of the unix-nano instant end. The key is class(4)
// + DE41 + DE11(6) + DE7(10).
func settlementRow(key string, r *record, end int64) SettlementRow {
	row := SettlementRow{
		RRN: r.RRN, MTI: r.Class, Kind: r.Kind, Amount: r.Amount, Status: StatusApproved,
		RC: r.RC, AuthCode: r.AuthCode, StandIn: r.StandIn, ReceivedAt: r.At,
	}
	if n := len(key); n >= 20 {
		row.TerminalID, row.STAN, row.TransmissionTime = key[4:n-16], key[n-16:n-10], key[n-10:]
	}
	// A reversal written before ReversedAt existed counts as received
	// before any window's end.
	if r.Reversed && r.ReversedAt < end {
		row.Status, row.ReversedAt = StatusReversed, r.ReversedAt
	}
	return row
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Settlement is the ledger's settlement of [from, to) (see Ledger.Settlement).
func (s *Sim) Settlement(from, to time.Time) ([]SettlementRow, error) {
	return s.ledger.Settlement(from, to)
}

// WriteSettlementCSV writes the acquirer's settlement file: the header
// SettlementColumns, one line per row, then the trailer
// "TRAILER,<rows>,<approved amount>,<reversed amount>,<net>,<from>,<to>":
// the amounts of the approved and of the reversed rows, the net of the
// approved rows (refunds negative), and the window. Times are RFC3339Nano
// UTC, amounts integers in minor units: the bytes are a pure function of
// the rows and the window.
func WriteSettlementCSV(w io.Writer, rows []SettlementRow, from, to time.Time) error {
	cw := csv.NewWriter(w)
	cw.Write(strings.Split(SettlementColumns, ","))
	var approved, reversed, net int64
	for i := range rows {
		r := &rows[i]
		if err := cw.Write(r.fields()); err != nil {
			return fmt.Errorf("sim: settlement row %d: %w", i+1, err)
		}
		switch {
		case r.Status == StatusReversed:
			reversed += r.Amount
		case r.Kind == KindRefund:
			approved += r.Amount
			net -= r.Amount
		default:
			approved += r.Amount
			net += r.Amount
		}
	}
	cw.Write([]string{"TRAILER", strconv.Itoa(len(rows)), itoa(approved), itoa(reversed), itoa(net), stamp(from.UnixNano()), stamp(to.UnixNano())})
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("sim: write settlement: %w", err)
	}
	return nil
}

func (r *SettlementRow) fields() []string {
	rev := ""
	if r.Status == StatusReversed {
		rev = stamp(r.ReversedAt)
	}
	return []string{r.RRN, r.TerminalID, r.STAN, r.TransmissionTime, r.MTI, r.Kind, itoa(r.Amount), r.Status,
		r.RC, r.AuthCode, strconv.FormatBool(r.StandIn), stamp(r.ReceivedAt), rev}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// stamp is unix nanos as RFC3339Nano UTC.
func stamp(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
