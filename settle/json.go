package settle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// jsonRow is the JSON shape of a Row.
type jsonRow struct {
	Seq              uint64 `json:"seq"`
	RRN              string `json:"rrn"`
	TerminalID       string `json:"terminal_id"`
	MerchantID       string `json:"merchant_id"`
	STAN             string `json:"stan"`
	TransmissionTime string `json:"transmission_time"`
	AcqSTAN          string `json:"acq_stan"`
	AcqTime          string `json:"acq_time"`
	Type             string `json:"type"`
	MTI              string `json:"mti"`
	ProcCode         string `json:"proc_code"`
	Amount           int64  `json:"amount"`
	Currency         string `json:"currency"`
	Status           string `json:"status"`
	RC               string `json:"rc"`
	AuthCode         string `json:"auth_code"`
	StandIn          bool   `json:"stand_in"`
	OriginalRRN      string `json:"original_rrn"`
	OriginalDay      string `json:"original_day"`
	Net              int64  `json:"net"`
	At               string `json:"at"`
}

// MarshalJSON writes the row with snake_case keys and At as RFC3339Nano
// UTC, as in WriteJSON and the reconciliation report.
func (r Row) MarshalJSON() ([]byte, error) { return json.Marshal(r.json()) }

func (r *Row) json() jsonRow {
	return jsonRow{
		Seq: r.Seq, RRN: r.RRN, TerminalID: r.TerminalID, MerchantID: r.MerchantID, STAN: r.STAN,
		TransmissionTime: r.TransmissionTime, AcqSTAN: r.AcqSTAN, AcqTime: r.AcqTime, Type: r.Type, MTI: r.MTI,
		ProcCode: r.ProcCode, Amount: r.Amount, Currency: r.Currency, Status: r.Status, RC: r.RC,
		AuthCode: r.AuthCode, StandIn: r.StandIn, OriginalRRN: r.OriginalRRN, OriginalDay: r.OriginalDay,
		Net: r.Net, At: stamp(r.At),
	}
}

// WriteJSON writes f as one JSON object and a newline: {"day",
// "acquirer", "opened_at", "closed_at", "index", "rows": [...],
// "trailer": {...}}, one key per line and one row per line, so that a day
// of a million rows streams out (an indenting encoder would hold and copy
// the whole document) and stays greppable. f must validate.
func WriteJSON(w io.Writer, f *File) error {
	if err := f.Validate(); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	head, err := json.Marshal(struct {
		Day      string `json:"day"`
		Acquirer string `json:"acquirer"`
		OpenedAt string `json:"opened_at"`
		ClosedAt string `json:"closed_at"`
		Index    uint64 `json:"index"`
	}{f.Day, f.Acquirer, stamp(f.OpenedAt), stamp(f.ClosedAt), f.Index})
	if err != nil {
		return fmt.Errorf("settle: write json: %w", err)
	}
	// {"day":..,"index":N} without its closing brace, each key on a line.
	bw.WriteString("{\n  ")
	bw.Write(bytes.ReplaceAll(head[1:len(head)-1], []byte(`,"`), []byte(",\n  \"")))
	bw.WriteString(",\n  \"rows\":[")
	var row bytes.Buffer
	enc := json.NewEncoder(&row)
	enc.SetEscapeHTML(false)
	for i := range f.Rows {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		row.Reset()
		if err := enc.Encode(f.Rows[i].json()); err != nil {
			return fmt.Errorf("settle: write json row %d: %w", i+1, err)
		}
		bw.Write(bytes.TrimSuffix(row.Bytes(), []byte("\n")))
	}
	if len(f.Rows) > 0 {
		bw.WriteString("\n  ")
	}
	tr, err := json.Marshal(f.Trailer())
	if err != nil {
		return fmt.Errorf("settle: write json: %w", err)
	}
	bw.WriteString("],\n  \"trailer\":")
	bw.Write(tr)
	bw.WriteString("\n}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("settle: write json: %w", err)
	}
	return nil
}

// encodeJSON writes v indented, without HTML escaping, and a newline.
func encodeJSON(w io.Writer, v any, what string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
