package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// DayClose is how the run's business day closed: the operator's cutover
// after the load, the settlement file each node serves, and the
// reconciliation with acqsim's export of the same window.
type DayClose struct {
	Day           string `json:"day"`
	Acquirer      string `json:"acquirer"`
	Rows          int64  `json:"rows"`
	Net           int64  `json:"net"`
	CSVSHA256     string `json:"csv_sha256"`
	Identical     bool   `json:"identical"` // every node served the recorded bytes
	Reconciled    bool   `json:"reconciled"`
	Discrepancies int64  `json:"discrepancies"`
	Report        string `json:"report,omitempty"` // the text report when not reconciled
	Err           string `json:"error,omitempty"`
	// Took is from the cutover to the last file recorded.
	Took time.Duration `json:"took_ns"`
}

// closeDay cuts the open day over once the load has stopped and nothing is
// owed to the acquirer any more (adminapi.CloseDay does the close and the
// reconciliations), then checks each file on every node.
func (c *checker) closeDay(ctx context.Context) []DayClose {
	ctx, cancel := context.WithTimeout(ctx, 2*c.timeout)
	defer cancel()
	if msg := c.untilDetail(ctx, c.safDrained); msg != "" {
		return []DayClose{{Err: "store-and-forward queue not drained before the cutover: " + msg}}
	}
	// A minute before the opening catches the day's first requests, whose
	// acqsim receive time may precede the day's record by a little.
	o := adminapi.DayCloseOptions{Poll: c.poll, Before: time.Minute}
	if c.acqsim != "" {
		o.Export = c.acqsimSettlement
	}
	closed, err := adminapi.CloseDay(ctx, c.nodes, o)
	if err != nil {
		return []DayClose{{Day: closed.Cutover.Closed, Err: err.Error()}}
	}
	var out []DayClose
	for _, cf := range closed.Files {
		f := cf.File
		dc := DayClose{Day: closed.Day.Day, Acquirer: f.Acquirer, Rows: f.Rows, Net: f.Net, CSVSHA256: f.CSVSHA256, Took: closed.Settled}
		c.checkFile(ctx, &dc)
		if r := cf.Recon; r != nil {
			dc.Reconciled, dc.Discrepancies = r.Reconciled, r.Discrepancies
			if !r.Reconciled {
				dc.Report = r.ReportText
			}
		}
		if cf.Err != nil && dc.Err == "" {
			dc.Err = cf.Err.Error()
		}
		out = append(out, dc)
	}
	return out
}

// checkFile fetches the file from every node: the recorded bytes each time.
func (c *checker) checkFile(ctx context.Context, dc *DayClose) {
	dc.Identical = true
	for _, n := range c.nodes {
		b, recorded, err := n.SettlementFile(ctx, dc.Day, dc.Acquirer, "csv")
		for adminapi.IsNotYet(err) && ctx.Err() == nil {
			// A standby vouches for the file once it has applied the
			// active's record of its checksum.
			time.Sleep(c.poll)
			b, recorded, err = n.SettlementFile(ctx, dc.Day, dc.Acquirer, "csv")
		}
		if err != nil {
			dc.Err, dc.Identical = err.Error(), false
			return
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != dc.CSVSHA256 || recorded != dc.CSVSHA256 {
			dc.Err, dc.Identical = fmt.Sprintf("%s serves a file with SHA-256 %s, the log records %s", n.Base, got, dc.CSVSHA256), false
			return
		}
	}
}

// safDrained reports what is still owed to an acquirer.
func (c *checker) safDrained(ctx context.Context) string {
	st, err := c.nodes[0].Status(ctx)
	if err != nil {
		return err.Error()
	}
	for _, q := range st.SAF {
		if q.Depth > 0 {
			return fmt.Sprintf("%d entries owed to %s", q.Depth, q.Acquirer)
		}
	}
	return ""
}

// untilDetail polls fn until "" or ctx ends; it returns fn's last detail.
func (c *checker) untilDetail(ctx context.Context, fn func(context.Context) string) string {
	for {
		msg := fn(ctx)
		if msg == "" {
			return ""
		}
		select {
		case <-ctx.Done():
			return msg
		case <-time.After(c.poll):
		}
	}
}

// acqsimSettlement is acqsim's settlement export of [from, to] (it has one
// acquirer: the name is not asked).
func (c *checker) acqsimSettlement(ctx context.Context, _ string, from, to time.Time) ([]byte, error) {
	q := url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
	path := "/settlement?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.acqsim+path, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: acqsim %s: %w", path, err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: acqsim %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: acqsim %s: %s %s %v", path, resp.Status, bytes.TrimSpace(b), err)
	}
	return b, nil
}

// dayCheck turns the day's close into one check line. Without acqsim
// (reconciles false) the files are not reconciled, and the line says so.
func dayCheck(days []DayClose, skipped, reconciles bool) Check {
	ch := Check{Name: "business day closed: the file identical on every node and reconciled with acqsim"}
	if skipped {
		ch.Skip, ch.Detail = true, "--no-day-close"
		return ch
	}
	if !reconciles {
		ch.Name = "business day closed: the file identical on every node (not reconciled: no acqsim admin address)"
	}
	ch.Pass = len(days) > 0
	var details []string
	for _, d := range days {
		switch {
		case d.Err != "":
			ch.Pass = false
			details = append(details, d.Err)
		case !d.Identical || reconciles && !d.Reconciled:
			ch.Pass = false
			details = append(details, fmt.Sprintf("day %s %s: identical %v, reconciled %v with %d discrepancies", d.Day, d.Acquirer, d.Identical, d.Reconciled, d.Discrepancies))
		default:
			details = append(details, fmt.Sprintf("day %s %s: %d rows, net %d, settled %.1f s after the cutover", d.Day, d.Acquirer, d.Rows, d.Net, d.Took.Seconds()))
		}
	}
	ch.Detail = strings.Join(details, "; ")
	return ch
}

// writeDays prints the business day's close.
func writeDays(w io.Writer, days []DayClose) {
	if len(days) == 0 {
		return
	}
	fmt.Fprintf(w, "\nBusiness day:\n")
	for _, d := range days {
		fmt.Fprintf(w, "  %s %s: %d rows, net %d, file %s, identical on every node %v, reconciled %v (%d discrepancies), settled %s after the cutover\n",
			d.Day, d.Acquirer, d.Rows, d.Net, d.CSVSHA256, d.Identical, d.Reconciled, d.Discrepancies, d.Took.Round(time.Millisecond))
		if d.Err != "" {
			fmt.Fprintf(w, "  error: %s\n", d.Err)
		}
		if d.Report != "" {
			fmt.Fprintf(w, "%s\n", d.Report)
		}
	}
}
