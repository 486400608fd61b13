package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tillgate/tillgate/loadtest"
)

// WriteSummary prints the result in the manner of etcd's pkg/report:
// totals, latency distribution, a coarse histogram, counts, then the
// checks and PASS or FAIL.
func WriteSummary(w io.Writer, r *Result) {
	s := r.Summary
	fmt.Fprintf(w, "\nSummary:\n")
	fmt.Fprintf(w, "  Registers:\t%d\n", r.Options.Registers)
	fmt.Fprintf(w, "  Total:\t%s\n", s.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  Completed:\t%d\n", s.Completed)
	if s.Offered > 0 {
		fmt.Fprintf(w, "  Offered:\t%d (dropped, no idle register: %d)\n", s.Offered, s.Dropped)
	}
	fmt.Fprintf(w, "  Throughput:\t%.1f tx/s\n", s.Throughput)
	l := s.Latency
	fmt.Fprintf(w, "  Fastest:\t%s\n  Average:\t%s\n  Slowest:\t%s\n", l.Min, l.Mean, l.Max)
	fmt.Fprintf(w, "\nLatency distribution:\n")
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"50%", l.P50}, {"90%", l.P90}, {"99%", l.P99}, {"99.9%", l.P999}} {
		fmt.Fprintf(w, "  %s in %s\n", p.name, p.d)
	}
	writeHistogram(w, s.Histogram, s.Completed)
	fmt.Fprintf(w, "\nResponse codes:\n")
	for _, rc := range loadtest.SortedKeys(s.ByRC) {
		fmt.Fprintf(w, "  %s\t%d\n", rc, s.ByRC[rc])
	}
	fmt.Fprintf(w, "\nBy kind:\n")
	for _, k := range loadtest.SortedKeys(s.ByKind) {
		fmt.Fprintf(w, "  %s\t%d\n", k, s.ByKind[k])
	}
	c := r.Client
	fmt.Fprintf(w, "\nErrors: %d (outcome unknown %d, not sent %d)\n", s.Errors, s.Unknown, s.NotSent)
	fmt.Fprintf(w, "Client: repeats %d, resends %d, timeouts %d, late answers %d, failovers %d, reversals queued %d acked %d\n",
		c.Repeats, c.Resends, c.Timeouts, c.LateAnswers, c.Failovers, c.ReversalsQueued, c.ReversalsAcked)
	fmt.Fprintf(w, "\nChecks:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, ch := range r.Checks {
		verdict := map[bool]string{true: "ok", false: "FAIL"}[ch.Pass]
		if ch.Skip {
			verdict = "skip"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", verdict, ch.Name, ch.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w, map[bool]string{true: "PASS", false: "FAIL"}[r.Pass])
}

// writeHistogram prints the latency histogram regrouped into at most 12
// rows of roughly equal log width, with bars.
func writeHistogram(w io.Writer, buckets []loadtest.Bucket, total int64) {
	if len(buckets) == 0 || total == 0 {
		return
	}
	fmt.Fprintf(w, "\nResponse time histogram (from):\n")
	step := max((len(buckets)+11)/12, 1)
	var rows []loadtest.Bucket
	for i := 0; i < len(buckets); i += step {
		row := loadtest.Bucket{Low: buckets[i].Low}
		for _, b := range buckets[i:min(i+step, len(buckets))] {
			row.Count += b.Count
		}
		rows = append(rows, row)
	}
	var most int64
	for _, r := range rows {
		most = max(most, r.Count)
	}
	for _, r := range rows {
		bar := strings.Repeat("∎", int(40*r.Count/most))
		fmt.Fprintf(w, "  %10s [%d]\t|%s\n", r.Low, r.Count, bar)
	}
}
