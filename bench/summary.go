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
// totals, latency distribution, a coarse histogram, faults, resources,
// counts, then the checks and PASS or FAIL.
func WriteSummary(w io.Writer, r *Result) {
	s := r.Summary
	fmt.Fprintf(w, "\nSummary:\n")
	fmt.Fprintf(w, "  Scenario:\t%s\n", r.Options.Scenario)
	fmt.Fprintf(w, "  Registers:\t%d\n", r.Options.Registers)
	fmt.Fprintf(w, "  Total:\t%s\n", s.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  Completed:\t%d\n", s.Completed)
	if s.Offered > 0 {
		fmt.Fprintf(w, "  Offered:\t%d (dropped, no idle register: %d)\n", s.Offered, s.Dropped)
	}
	fmt.Fprintf(w, "  Throughput:\t%.1f tx/s\n", s.Throughput)
	l := s.Latency
	fmt.Fprintf(w, "  Fastest:\t%s\n  Average:\t%s\n  Slowest:\t%s\n", l.Min, l.Mean, l.Max)
	if s.PeakThroughput > 0 {
		fmt.Fprintf(w, "  Best 10 s:\t%.1f tx/s\n", s.PeakThroughput)
	}
	writeLatency(w, s)
	writeHistogram(w, s.Histogram, s.Completed)
	writeFaults(w, s.Faults)
	writeResume(w, r.Resume)
	writeResources(w, r.Resources)
	writeHostile(w, r.Hostile)
	writeCounts(w, r)
	writeBatches(w, r.Batches)
	writeDays(w, r.Days)
	writeVerdict(w, r.Verdict)
	writeChecks(w, r)
}

// writeVerdict prints the per-identity checker's report: its summary, the
// checks it could not do, and the first violations with their histories.
func writeVerdict(w io.Writer, v *Verdict) {
	if v == nil {
		return
	}
	fmt.Fprintf(w, "\nPer-identity check (package check):\n")
	if v.Quiet != "" {
		fmt.Fprintf(w, "  not quiet at the end: %s\n", v.Quiet)
	}
	if v.Err != "" {
		fmt.Fprintf(w, "  no verdict: %s\n", v.Err)
		return
	}
	for _, line := range strings.Split(strings.TrimRight(v.Text, "\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// writeLatency prints the percentiles of total, added and acquirer time.
func writeLatency(w io.Writer, s loadtest.Summary) {
	l := s.Latency
	fmt.Fprintf(w, "\nLatency distribution:\t%10s %10s %10s\n", "total", "added", "acquirer")
	for _, p := range []struct {
		name    string
		t, a, q time.Duration
	}{{"50%", l.P50, s.Added.P50, s.Acquirer.P50}, {"90%", l.P90, s.Added.P90, s.Acquirer.P90},
		{"99%", l.P99, s.Added.P99, s.Acquirer.P99}, {"99.9%", l.P999, s.Added.P999, s.Acquirer.P999},
		{"max", l.Max, s.Added.Max, s.Acquirer.Max}} {
		fmt.Fprintf(w, "  %-6s %10s %10s %10s\n", p.name, round(p.t), round(p.a), round(p.q))
	}
	fmt.Fprintf(w, "  (added = total minus the acquirer round trip the node reported in DE48 AQ; answered transactions only)\n")
}

// writeCounts prints the answers by code and kind and the client counters.
func writeCounts(w io.Writer, r *Result) {
	s, c := r.Summary, r.Client
	fmt.Fprintf(w, "\nResponse codes:\n")
	for _, rc := range loadtest.SortedKeys(s.ByRC) {
		fmt.Fprintf(w, "  %s\t%d\n", rc, s.ByRC[rc])
	}
	fmt.Fprintf(w, "\nBy kind:\n")
	for _, k := range loadtest.SortedKeys(s.ByKind) {
		fmt.Fprintf(w, "  %s\t%d\n", k, s.ByKind[k])
	}
	fmt.Fprintf(w, "\nErrors: %d (outcome unknown %d, not sent %d)\n", s.Errors, s.Unknown, s.NotSent)
	fmt.Fprintf(w, "Client: repeats %d, resends %d, timeouts %d, late answers %d, failovers %d, reversals queued %d acked %d\n",
		c.Repeats, c.Resends, c.Timeouts, c.LateAnswers, c.Failovers, c.ReversalsQueued, c.ReversalsAcked)
	if t := r.RaftTerms; t[1] != t[0] {
		fmt.Fprintf(w, "Raft term %d before the load, %d after: leadership moved during the run\n", t[0], t[1])
	}
	for _, l := range r.Leaders {
		fmt.Fprintf(w, "  at %s: term %d, leader %s\n", l.At.Round(100*time.Millisecond), l.Term, l.Leader)
	}
}

// writeChecks prints each check and the verdict.
func writeChecks(w io.Writer, r *Result) {
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

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

// writeFaults prints the time to resume after each fault.
func writeFaults(w io.Writer, faults []loadtest.FaultResult) {
	if len(faults) == 0 {
		return
	}
	fmt.Fprintf(w, "\nTime to resume (fault to each register's first answer from another node or the node back; over registers):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  fault\tnode\tat\tresumed\tfirst\tp50\tp99\tmax")
	for _, f := range faults {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", f.Kind, f.Node, f.At.Round(time.Millisecond),
			f.Resumed, f.Registers, f.First.Round(time.Millisecond), f.P50.Round(time.Millisecond),
			f.P99.Round(time.Millisecond), f.Max.Round(time.Millisecond))
	}
	tw.Flush()
}

// writeResources prints CPU and memory per node.
func writeResources(w io.Writer, res []NodeResources) {
	if len(res) == 0 {
		return
	}
	fmt.Fprintf(w, "\nResources (load phase):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  node\tCPU s\tCPU s/1000 tx\tmax RSS\tmax anon\tsource")
	for _, r := range res {
		src := r.Source
		if r.Err != "" {
			src += " (" + r.Err + ")"
		}
		fmt.Fprintf(tw, "  %s\t%.1f\t%.3f\t%.1f MiB\t%s\t%s\n", r.Node, r.CPUSeconds, r.CPUPer1000, float64(r.MaxRSS)/(1<<20), anonMiB(r.MaxAnon), src)
	}
	tw.Flush()
}

// anonMiB formats MaxAnon, which only /proc readings have.
func anonMiB(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// writeResume prints, per fault, the time to resume from the fault and from
// the election after it (from the registers' history), and the elections.
func writeResume(w io.Writer, rs []Resume) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nTime to resume, per register, to its first answer to a financial request from a serving node (history):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  fault\ttarget\tat\tlength\tresumed\tfrom fault p50\tp99\tmax\twaited p50\tp99\tmax\telections\telected after\tfrom election p50\tp99\tmax (n)")
	for _, r := range rs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Kind, r.Target, roundMS(r.At), roundMS(r.Length),
			r.Resumed, r.Registers, roundMS(r.FromFault.P50), roundMS(r.FromFault.P99), roundMS(r.FromFault.Max),
			roundMS(r.Waited.P50), roundMS(r.Waited.P99), roundMS(r.Waited.Max), r.Elections,
			electedText(r), fromElectionText(r))
	}
	tw.Flush()
	fmt.Fprintln(w, "  (waited: from the later of the fault and the request's sending to its answer; from fault also counts the time a register had nothing to send)")
}

func roundMS(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func electedText(r Resume) string {
	if r.Elections == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", roundMS(r.Elected), r.Leader)
}

func fromElectionText(r Resume) string {
	e := r.FromElection
	if r.Elections == 0 || e.N == 0 {
		return "-\t-\t-"
	}
	return fmt.Sprintf("%s\t%s\t%s (%d)", roundMS(e.P50), roundMS(e.P99), roundMS(e.Max), e.N)
}
