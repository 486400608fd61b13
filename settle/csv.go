package settle

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Columns is the header row of tillgate's settlement CSV, one column per
// Row field in this order.
const Columns = "seq,rrn,terminal_id,merchant_id,stan,transmission_time,acq_stan,acq_time,type,mti,proc_code," +
	"amount,currency,status,rc,auth_code,stand_in,original_rrn,original_day,net,at"

// trailerTag starts the last line of a settlement CSV.
const trailerTag = "TRAILER"

// trailerHead are the trailer's columns before the counts and amounts of
// Trailer.fields.
var trailerHead = []string{trailerTag, "day", "acquirer", "opened_at", "closed_at", "index"}

// WriteCSV writes f as CSV: the header Columns, one line per row, then
// the trailer line "TRAILER,day,acquirer,opened_at,closed_at,index,rows,
// debits,debit_amount,credits,credit_amount,reversed,reversed_amount,
// reversals,reversal_amount,net". Amounts are integers in minor units,
// times RFC3339Nano UTC, booleans true/false. f must validate.
func WriteCSV(w io.Writer, f *File) error { return writeFile(w, io.Discard, f) }

// writeFile writes f through a Writer, refusing it whole if it does not
// validate.
func writeFile(csvOut, jsonOut io.Writer, f *File) error {
	if err := f.Validate(); err != nil {
		return err
	}
	sw, err := NewWriter(csvOut, jsonOut, f)
	if err != nil {
		return err
	}
	for i := range f.Rows {
		if err := sw.Add(&f.Rows[i]); err != nil {
			return err
		}
	}
	return sw.Close()
}

func (r *Row) fields() []string {
	return []string{
		strconv.FormatUint(r.Seq, 10), r.RRN, r.TerminalID, r.MerchantID, r.STAN, r.TransmissionTime,
		r.AcqSTAN, r.AcqTime, r.Type, r.MTI, r.ProcCode, itoa(r.Amount), r.Currency, r.Status,
		r.RC, r.AuthCode, strconv.FormatBool(r.StandIn), r.OriginalRRN, r.OriginalDay, itoa(r.Net), stamp(r.At),
	}
}

// ReadCSV parses WriteCSV's output. It fails on a header other than
// Columns, a malformed field, a row after the trailer or no trailer, rows
// that do not validate, and a trailer that does not match the rows (the
// error names every count and amount that differs).
func ReadCSV(r io.Reader) (*File, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	if err := readHeader(cr, Columns); err != nil {
		return nil, err
	}
	f := &File{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, errors.New("settle: read csv: no trailer line (truncated file?)")
		}
		if err != nil {
			return nil, fmt.Errorf("settle: read csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if rec[0] == trailerTag {
			// A file whose trailer fails is not returned: a caller that
			// checks only the File must not reconcile half of one.
			if err := readTrailer(cr, f, rec, line); err != nil {
				return nil, err
			}
			return f, nil
		}
		row, err := parseRow(rec)
		if err != nil {
			return nil, fmt.Errorf("settle: read csv line %d: %w", line, err)
		}
		f.Rows = append(f.Rows, row)
	}
}

// readHeader checks the first record is the column list want.
func readHeader(cr *csv.Reader, want string) error {
	rec, err := cr.Read()
	if err != nil {
		return fmt.Errorf("settle: read csv header: %w", err)
	}
	if got := strings.Join(rec, ","); got != want {
		return fmt.Errorf("settle: read csv header: got %q, want %q", got, want)
	}
	return nil
}

// readTrailer parses the trailer rec (at line) into f, checks it against
// the rows and that nothing follows it.
func readTrailer(cr *csv.Reader, f *File, rec []string, line int) error {
	var t Trailer
	tf := t.fields()
	if len(rec) != len(trailerHead)+len(tf) {
		return fmt.Errorf("settle: read csv line %d: trailer has %d fields, want %d", line, len(rec), len(trailerHead)+len(tf))
	}
	p := parser{rec: rec}
	f.Day, f.Acquirer = rec[1], rec[2]
	f.OpenedAt, f.ClosedAt, f.Index = p.time(3, "opened_at"), p.time(4, "closed_at"), p.uint(5, "index")
	for i, fld := range tf {
		*fld.v = p.int(len(trailerHead)+i, fld.name)
	}
	if p.err != nil {
		return fmt.Errorf("settle: read csv line %d: trailer: %w", line, p.err)
	}
	if _, err := cr.Read(); err != io.EOF {
		return fmt.Errorf("settle: read csv line %d: data after the trailer", line+1)
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if d := t.diff(f.Trailer()); len(d) > 0 {
		return fmt.Errorf("settle: read csv: trailer does not match the rows: %s", strings.Join(d, "; "))
	}
	return nil
}

func parseRow(rec []string) (Row, error) {
	n := strings.Count(Columns, ",") + 1
	if len(rec) != n {
		return Row{}, fmt.Errorf("%d fields, want %d", len(rec), n)
	}
	p := parser{rec: rec}
	r := Row{
		Seq: p.uint(0, "seq"), RRN: rec[1], TerminalID: rec[2], MerchantID: rec[3], STAN: rec[4], TransmissionTime: rec[5],
		AcqSTAN: rec[6], AcqTime: rec[7], Type: rec[8], MTI: rec[9], ProcCode: rec[10], Amount: p.int(11, "amount"),
		Currency: rec[12], Status: rec[13], RC: rec[14], AuthCode: rec[15], StandIn: p.bool(16, "stand_in"),
		OriginalRRN: rec[17], OriginalDay: rec[18], Net: p.int(19, "net"), At: p.time(20, "at"),
	}
	return r, p.err
}

// parser converts fields of one record, keeping the first error.
type parser struct {
	rec []string
	err error
}

func (p *parser) fail(name string, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %w", name, err)
	}
}

func (p *parser) int(i int, name string) int64 {
	v, err := strconv.ParseInt(p.rec[i], 10, 64)
	if err != nil {
		p.fail(name, err)
	}
	return v
}

func (p *parser) uint(i int, name string) uint64 {
	v, err := strconv.ParseUint(p.rec[i], 10, 64)
	if err != nil {
		p.fail(name, err)
	}
	return v
}

func (p *parser) bool(i int, name string) bool {
	v, err := strconv.ParseBool(p.rec[i])
	if err != nil {
		p.fail(name, err)
	}
	return v
}

// time reads RFC3339Nano as unix nanos; "" is 0.
func (p *parser) time(i int, name string) int64 {
	if p.rec[i] == "" {
		return 0
	}
	v, err := time.Parse(time.RFC3339Nano, p.rec[i])
	if err != nil {
		p.fail(name, err)
	}
	return v.UnixNano()
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// stamp is unix nanos as RFC3339Nano UTC.
func stamp(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
