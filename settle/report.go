package settle

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// jsonAcquirerRow is the JSON shape of an AcquirerRow: the CSV's column
// names, times RFC3339Nano UTC ("" when 0).
type jsonAcquirerRow struct {
	RRN              string `json:"rrn"`
	TerminalID       string `json:"terminal"`
	STAN             string `json:"stan"`
	TransmissionTime string `json:"transmission_time"`
	MTI              string `json:"mti"`
	Kind             string `json:"kind"`
	Amount           int64  `json:"amount"`
	Status           string `json:"status"`
	RC               string `json:"rc"`
	AuthCode         string `json:"auth_code"`
	StandIn          bool   `json:"stand_in"`
	ReceivedAt       string `json:"received_at"`
	ReversedAt       string `json:"reversed_at"`
}

// MarshalJSON writes the row as in the acquirer's CSV.
func (r AcquirerRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonAcquirerRow{
		RRN: r.RRN, TerminalID: r.TerminalID, STAN: r.STAN, TransmissionTime: r.TransmissionTime, MTI: r.MTI,
		Kind: r.Kind, Amount: r.Amount, Status: r.Status, RC: r.RC, AuthCode: r.AuthCode, StandIn: r.StandIn,
		ReceivedAt: optStamp(r.ReceivedAt), ReversedAt: optStamp(r.ReversedAt),
	})
}

func optStamp(ns int64) string {
	if ns == 0 {
		return ""
	}
	return stamp(ns)
}

// jsonReport is the JSON shape of a Report; lists are [] when empty.
type jsonReport struct {
	Day           string        `json:"day"`
	Acquirer      string        `json:"acquirer"`
	Reconciled    bool          `json:"reconciled"`
	OursFrom      string        `json:"ours_from"`
	OursTo        string        `json:"ours_to"`
	TheirsFrom    string        `json:"theirs_from"`
	TheirsTo      string        `json:"theirs_to"`
	Matched       int           `json:"matched"`
	Ours          Totals        `json:"ours"`
	Theirs        Totals        `json:"theirs"`
	CrossDay      Totals        `json:"cross_day"`
	Discrepancies []Discrepancy `json:"discrepancies"`
	InOtherDays   []OtherDay    `json:"in_other_days"`
	Batches       []BatchResult `json:"batches"`
}

// WriteJSON writes the report as one indented JSON object and a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	j := jsonReport{
		Day: r.Day, Acquirer: r.Acquirer, Reconciled: r.Reconciled,
		OursFrom: optStamp(r.OursFrom), OursTo: optStamp(r.OursTo), TheirsFrom: optStamp(r.TheirsFrom), TheirsTo: optStamp(r.TheirsTo),
		Matched: r.Matched, Ours: r.Ours, Theirs: r.Theirs, CrossDay: r.CrossDay,
		Discrepancies: orEmpty(r.Discrepancies), InOtherDays: orEmpty(r.InOtherDays), Batches: orEmpty(r.Batches),
	}
	return encodeJSON(w, j, "settle: write report json")
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// WriteText writes the report for an operator: the verdict and the totals
// first, then one line per discrepancy (blocking ones first), then the
// acquirer rows that belong to other days.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	verdict, blocking := "RECONCILED", 0
	for _, d := range r.Discrepancies {
		if d.Blocking {
			blocking++
		}
	}
	if !r.Reconciled {
		verdict = "NOT RECONCILED"
	}
	ew.printf("%s: day %s, acquirer %s: %d discrepancies, %d informational\n", verdict, r.Day, r.Acquirer,
		blocking, len(r.Discrepancies)-blocking)
	ew.printf("window   ours %s .. %s; acquirer %s .. %s%s\n", optStamp(r.OursFrom), optStamp(r.OursTo),
		optStamp(r.TheirsFrom), optStamp(r.TheirsTo), windowNote(r))
	ew.printf("ours     %s\n", r.Ours.text())
	ew.printf("acquirer %s\n", r.Theirs.text())
	ew.printf("matched %d; net difference %d; cross-day reversals %d (net %d); in other days %d; batches %d\n",
		r.Matched, r.Ours.Net-r.Theirs.Net, r.CrossDay.Rows, r.CrossDay.Net, len(r.InOtherDays), len(r.Batches))
	if len(r.Discrepancies) > 0 {
		ew.printf("\n")
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tRRN\tTERMINAL\tBATCH\tDETAIL")
		for _, d := range r.Discrepancies {
			kind := d.Kind
			if !d.Blocking {
				kind += " (info)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", kind, dash(d.RRN), dash(d.TerminalID), batchNo(d), d.Detail)
		}
		tw.Flush()
	}
	for _, o := range r.InOtherDays {
		ew.printf("in day %s: rrn %s terminal %s %s %s %d\n", o.Day, o.Theirs.RRN, o.Theirs.TerminalID, o.Theirs.Status, o.Theirs.Kind, o.Theirs.Amount)
	}
	return ew.err
}

func (t Totals) text() string {
	return fmt.Sprintf("%d rows: %d approved %d, %d reversed %d, net %d", t.Rows, t.Approved, t.ApprovedAmount, t.Reversed, t.ReversedAmount, t.Net)
}

func windowNote(r *Report) string {
	if r.OursFrom != r.TheirsFrom || r.OursTo != r.TheirsTo {
		return " (WINDOWS DIFFER)"
	}
	return ""
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func batchNo(d Discrepancy) string {
	if d.Kind != KindBatchOpen && d.Kind != KindBatchOutOfBalance {
		return "-"
	}
	return fmt.Sprint(d.Batch)
}

// errWriter keeps the first write error, so that WriteText checks once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
