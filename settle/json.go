package settle

import (
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
// of a million rows streams out (see Writer) and stays greppable. f must
// validate.
func WriteJSON(w io.Writer, f *File) error { return writeFile(io.Discard, w, f) }

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
