package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Days is the answer of GET /days: every business day, oldest first.
type Days struct {
	Open string `json:"open"` // the open day, YYYYMMDD
	Days []Day  `json:"days"`
}

// Day is one business day (GET /days/{day}).
type Day struct {
	Day      string     `json:"day"`
	Status   string     `json:"status"` // open, closing, settled
	OpenedAt time.Time  `json:"opened_at"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	ClosedBy string     `json:"closed_by,omitempty"` // operator, schedule
	// CutoverIndex is the Raft index of the cutover that closed the day.
	CutoverIndex    uint64           `json:"cutover_index,omitempty"`
	SettledIndex    uint64           `json:"settled_index,omitempty"`
	Files           []DayFile        `json:"files,omitempty"`
	Reconciliations []Reconciliation `json:"reconciliations,omitempty"`
}

// DayFile is a settlement file's checksums as recorded in the log.
type DayFile struct {
	Acquirer   string `json:"acquirer"`
	CSVSHA256  string `json:"csv_sha256"`
	JSONSHA256 string `json:"json_sha256"`
	Rows       int64  `json:"rows"`
	Net        int64  `json:"net"`
}

// Reconciliation is the latest reconciliation of a day with an acquirer.
type Reconciliation struct {
	Acquirer      string    `json:"acquirer"`
	Reconciled    bool      `json:"reconciled"`
	Discrepancies int64     `json:"discrepancies"` // blocking ones
	ReportSHA256  string    `json:"report_sha256"`
	At            time.Time `json:"at"`
}

// Cutover is the body of POST /days/cutover. Day, if set, must be the open
// day: a retried request then cannot close the next day too.
type Cutover struct {
	Day string `json:"day,omitempty"`
}

// CutoverResult is its answer.
type CutoverResult struct {
	Closed string `json:"closed"`
	Opened string `json:"opened"`
}

// Reconciled is the answer of POST /days/{day}/reconcile/{acquirer}: the
// outcome as recorded, and the report itself (settle.Report's JSON).
type Reconciled struct {
	Day           string `json:"day"`
	Acquirer      string `json:"acquirer"`
	Reconciled    bool   `json:"reconciled"`
	Discrepancies int64  `json:"discrepancies"`
	ReportSHA256  string `json:"report_sha256"`
	// Recorded: the node was the active and recorded the outcome; else
	// record it with RecordReconciliation.
	Recorded   bool            `json:"recorded"`
	Report     json.RawMessage `json:"report"`
	ReportText string          `json:"report_text"`
}

// BatchTotals are the nine totals of a 0500/0510.
type BatchTotals struct {
	CreditsCount          int64 `json:"credits_count"`
	CreditsReversalCount  int64 `json:"credits_reversal_count"`
	DebitsCount           int64 `json:"debits_count"`
	DebitsReversalCount   int64 `json:"debits_reversal_count"`
	CreditsAmount         int64 `json:"credits_amount"`
	CreditsReversalAmount int64 `json:"credits_reversal_amount"`
	DebitsAmount          int64 `json:"debits_amount"`
	DebitsReversalAmount  int64 `json:"debits_reversal_amount"`
	NetAmount             int64 `json:"net_amount"`
}

// Batch is one register batch.
type Batch struct {
	Terminal    string      `json:"terminal"`
	Number      uint64      `json:"number"`
	Status      string      `json:"status"` // open, out_of_balance, closed, closed_after_upload, closed_by_operator
	Ours        BatchTotals `json:"ours"`
	Register    BatchTotals `json:"register"`
	HasRegister bool        `json:"has_register"`
	Balanced    bool        `json:"balanced"`
	Uploads     int64       `json:"uploads"`
	ClosedAt    *time.Time  `json:"closed_at,omitempty"`
}

// Batches is the answer of GET /batches/{terminal}: oldest first, the open
// one last.
type Batches struct {
	Terminal string  `json:"terminal"`
	Batches  []Batch `json:"batches"`
}

// Days fetches GET /days.
func (c *Client) Days(ctx context.Context) (Days, error) {
	var d Days
	return d, c.do(ctx, http.MethodGet, "/days", nil, &d)
}

// Day fetches GET /days/{day}.
func (c *Client) Day(ctx context.Context, day string) (Day, error) {
	var d Day
	return d, c.do(ctx, http.MethodGet, "/days/"+url.PathEscape(day), nil, &d)
}

// Cutover closes the open business day (leader only).
func (c *Client) Cutover(ctx context.Context, day string) (CutoverResult, error) {
	var r CutoverResult
	return r, c.do(ctx, http.MethodPost, "/days/cutover", Cutover{Day: day}, &r)
}

// SettlementFile fetches a day's settlement file of acquirer; format is
// "csv" or "json". It returns the bytes and the SHA-256 the log records.
// Like Backup it is bounded by ctx only: a day of a million rows takes
// longer to render and send than the client's timeout.
func (c *Client) SettlementFile(ctx context.Context, day, acquirer, format string) ([]byte, string, error) {
	path := "/days/" + url.PathEscape(day) + "/files/" + url.PathEscape(acquirer+"."+format)
	resp, err := c.send(ctx, c.untimed(), http.MethodGet, path, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", &UnreachableError{Node: c.Base, Method: http.MethodGet, Path: path, Err: err}
	}
	return b, resp.Header.Get(HeaderSHA256), nil
}

// HeaderSHA256 carries the checksum the log records for a settlement file.
const HeaderSHA256 = "X-Tillgate-Sha256"

// Reconcile sends the acquirer's settlement file of day (its CSV export)
// to be matched against ours; the outcome is recorded (leader only). It is
// bounded by ctx only, as SettlementFile.
func (c *Client) Reconcile(ctx context.Context, day, acquirer string, acquirerFile []byte) (Reconciled, error) {
	path := "/days/" + url.PathEscape(day) + "/reconcile/" + url.PathEscape(acquirer)
	var r Reconciled
	return r, c.doRaw(ctx, http.MethodPost, path, acquirerFile, &r)
}

// RecordReconciliation records at the active the outcome of a
// reconciliation another node made (Reconciled.Recorded false).
func (c *Client) RecordReconciliation(ctx context.Context, day string, r Reconciled) (Day, error) {
	var d Day
	body := Reconciliation{Acquirer: r.Acquirer, Reconciled: r.Reconciled, Discrepancies: r.Discrepancies, ReportSHA256: r.ReportSHA256}
	return d, c.do(ctx, http.MethodPost, "/days/"+url.PathEscape(day)+"/reconciliations", body, &d)
}

// Batches fetches a terminal's batches.
func (c *Client) Batches(ctx context.Context, terminal string) (Batches, error) {
	var b Batches
	return b, c.do(ctx, http.MethodGet, "/batches/"+url.PathEscape(terminal), nil, &b)
}

// CloseBatch closes a terminal's open batch number whatever its totals, as
// an operator resolves a batch out of balance (leader only).
func (c *Client) CloseBatch(ctx context.Context, terminal string, number uint64) (Batch, error) {
	var b Batch
	path := "/batches/" + url.PathEscape(terminal) + "/" + strconv.FormatUint(number, 10) + "/close"
	return b, c.do(ctx, http.MethodPost, path, nil, &b)
}

// untimed is the HTTP client without its timeout: for the calls that take
// as long as a day is big.
func (c *Client) untimed() *http.Client {
	hc := *c.httpClient()
	hc.Timeout = 0
	return &hc
}

// doRaw is do with a body that is not JSON.
func (c *Client) doRaw(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("adminapi: %s %s%s: %w", method, c.Base, path, err)
	}
	req.Header.Set("Content-Type", "text/csv")
	resp, err := c.exec(c.untimed(), req)
	if err != nil {
		return err
	}
	return c.decode(resp, out)
}
