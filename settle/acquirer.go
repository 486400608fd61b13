package settle

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// AcquirerColumns is the header row of the acquirer's settlement file.
// acquirer/sim.SettlementColumns must be the same list: acqsim writes this
// format without importing settle, and both packages' tests check the
// shared golden testdata/acquirer.csv.
const AcquirerColumns = "rrn,terminal,stan,transmission_time,mti,kind,amount,status,rc,auth_code,stand_in,received_at,reversed_at"

// AcquirerRow is one transaction in the acquirer's own settlement file
// (acqsim's export format).
type AcquirerRow struct {
	RRN, TerminalID, STAN, TransmissionTime, MTI, Kind string
	Amount                                             int64
	Status                                             string // approved | reversed
	RC, AuthCode                                       string
	StandIn                                            bool
	ReceivedAt                                         int64 // unix nanos
	ReversedAt                                         int64 // unix nanos; 0 unless reversed
}

// net is the row's signed effect: approved debits +Amount, approved
// refunds -Amount, reversed 0.
func (r *AcquirerRow) net() int64 {
	switch {
	case r.Status == StatusReversed:
		return 0
	case r.Kind == TypeRefund:
		return -r.Amount
	}
	return r.Amount
}

// AcquirerFile is the acquirer's settlement of the window [From, To)
// (unix nanos). Acquirer is not in the file: the caller names it.
type AcquirerFile struct {
	Acquirer string
	From, To int64
	Rows     []AcquirerRow
}

// ReadAcquirerCSV parses the acquirer's settlement CSV: the header
// AcquirerColumns, one line per row, then the trailer
// "TRAILER,<rows>,<approved amount>,<reversed amount>,<net>,<from>,<to>",
// which must match the rows.
func ReadAcquirerCSV(r io.Reader) (*AcquirerFile, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	if err := readHeader(cr, AcquirerColumns); err != nil {
		return nil, err
	}
	f := &AcquirerFile{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, errors.New("settle: read acquirer csv: no trailer line (truncated file?)")
		}
		if err != nil {
			return nil, fmt.Errorf("settle: read acquirer csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if rec[0] == trailerTag {
			if err := readAcquirerTrailer(cr, f, rec); err != nil {
				return nil, fmt.Errorf("settle: read acquirer csv line %d: %w", line, err)
			}
			return f, nil
		}
		row, err := parseAcquirerRow(rec)
		if err != nil {
			return nil, fmt.Errorf("settle: read acquirer csv line %d: %w", line, err)
		}
		f.Rows = append(f.Rows, row)
	}
}

func parseAcquirerRow(rec []string) (AcquirerRow, error) {
	n := strings.Count(AcquirerColumns, ",") + 1
	if len(rec) != n {
		return AcquirerRow{}, fmt.Errorf("%d fields, want %d", len(rec), n)
	}
	p := parser{rec: rec}
	r := AcquirerRow{
		RRN: rec[0], TerminalID: rec[1], STAN: rec[2], TransmissionTime: rec[3], MTI: rec[4], Kind: rec[5],
		Amount: p.int(6, "amount"), Status: rec[7], RC: rec[8], AuthCode: rec[9], StandIn: p.bool(10, "stand_in"),
		ReceivedAt: p.time(11, "received_at"), ReversedAt: p.time(12, "reversed_at"),
	}
	if p.err == nil && r.Status != StatusApproved && r.Status != StatusReversed {
		p.err = fmt.Errorf("status %q", r.Status)
	}
	return r, p.err
}

// readAcquirerTrailer parses the trailer into f's window and checks its
// sums against the rows and that nothing follows it.
func readAcquirerTrailer(cr *csv.Reader, f *AcquirerFile, rec []string) error {
	if len(rec) != 7 {
		return fmt.Errorf("trailer has %d fields, want 7", len(rec))
	}
	p := parser{rec: rec}
	written := [4]int64{p.int(1, "rows"), p.int(2, "approved amount"), p.int(3, "reversed amount"), p.int(4, "net")}
	f.From, f.To = p.time(5, "from"), p.time(6, "to")
	if p.err != nil {
		return fmt.Errorf("trailer: %w", p.err)
	}
	if _, err := cr.Read(); err != io.EOF {
		return errors.New("data after the trailer")
	}
	sums := [4]int64{int64(len(f.Rows))}
	for i := range f.Rows {
		r := &f.Rows[i]
		if r.Status == StatusReversed {
			sums[2] += r.Amount
		} else {
			sums[1] += r.Amount
		}
		sums[3] += r.net()
	}
	var diffs []string
	for i, name := range []string{"rows", "approved amount", "reversed amount", "net"} {
		if written[i] != sums[i] {
			diffs = append(diffs, fmt.Sprintf("%s %d in the trailer, %d in the rows", name, written[i], sums[i]))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("trailer does not match the rows: %s", strings.Join(diffs, "; "))
	}
	return nil
}
