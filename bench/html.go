package bench

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"time"

	"github.com/tillgate/tillgate/loadtest"
)

// WriteHTML writes the report as one self-contained HTML page: the
// figures, latency over time with the faults marked, throughput over
// time and the latency histogram as inline SVG, and the tables. It loads
// nothing from anywhere and runs no script.
func WriteHTML(w io.Writer, r *Result) error {
	s := r.Summary
	data := map[string]any{
		"R": r, "S": s, "Verdict": map[bool]string{true: "PASS", false: "FAIL"}[r.Pass],
		"LatencyPlot":    template.HTML(latencyPlot(r)),
		"ThroughputPlot": template.HTML(throughputPlot(r)),
		"HistogramPlot":  template.HTML(histogramPlot(s)),
		"Latencies": []struct {
			Name string
			L    loadtest.Latency
		}{{"total (as the registers saw it)", s.Latency}, {"added by tillgate (total − acquirer)", s.Added}, {"acquirer round trip (DE48 AQ)", s.Acquirer}},
	}
	if err := reportTmpl.Execute(w, data); err != nil {
		return fmt.Errorf("bench: html report: %w", err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f s", v/1000)
	case v >= 1:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.0f µs", v*1000)
	}
}

func faultMarkers(r *Result) []marker {
	s := r.Summary
	var out []marker
	for _, l := range r.Leaders {
		out = append(out, marker{x: l.At.Seconds(), label: fmt.Sprintf("term %d %s", l.Term, l.Leader), color: "#70c"})
	}
	for _, f := range s.Faults {
		color := cmp.Or(map[string]string{"kill": "#c00", "pause": "#e80"}[f.Kind], "#a0a")
		out = append(out, marker{x: f.At.Seconds(), label: f.Kind + " " + f.Node, color: color})
		if f.Back > 0 {
			out = append(out, marker{x: f.Back.Seconds(), label: "back", color: "#080"})
		}
	}
	return out
}

func latencyPlot(r *Result) string {
	s := r.Summary
	xs := make([]float64, len(s.Timeline))
	ss := []series{{name: "p50", color: "#1f77b4"}, {name: "p99", color: "#d62728"}, {name: "max", color: "#999"},
		{name: "added p99", color: "#2ca02c"}}
	for i, w := range s.Timeline {
		xs[i] = float64(w.Second)
		for j, d := range []time.Duration{w.P50, w.P99, w.Max, w.AddedP99} {
			ss[j].ys = append(ss[j].ys, ms(d))
		}
	}
	return lineChart("Latency over time (per second, log scale)", xs, ss, true, fmtMS, faultMarkers(r))
}

func throughputPlot(r *Result) string {
	s := r.Summary
	xs := make([]float64, len(s.Timeline))
	ss := []series{{name: "completed/s", color: "#1f77b4"}, {name: "errors/s", color: "#d62728"}, {name: "offered/s", color: "#bbb"}}
	for i, w := range s.Timeline {
		xs[i] = float64(w.Second)
		ss[0].ys = append(ss[0].ys, float64(w.Count))
		ss[1].ys = append(ss[1].ys, float64(w.Errors))
		ss[2].ys = append(ss[2].ys, float64(w.Offered))
	}
	if s.Offered == 0 {
		ss = ss[:2] // closed loop
	}
	return lineChart("Throughput (transactions finished per second)", xs, ss, false,
		func(v float64) string { return fmt.Sprintf("%.0f", v) }, faultMarkers(r))
}

// histogramPlot regroups the HDR buckets into four bins a decade.
func histogramPlot(s loadtest.Summary) string {
	const perDecade = 4
	binOf := func(d time.Duration) int {
		return int(math.Floor(math.Log10(max(float64(d.Microseconds()), 1)) * perDecade))
	}
	lo, hi := math.MaxInt, 0
	for _, b := range append(append([]loadtest.Bucket(nil), s.Histogram...), s.AddedHistogram...) {
		lo, hi = min(lo, binOf(b.Low)), max(hi, binOf(b.Low))
	}
	if lo > hi {
		return barChart("Latency histogram", nil, nil, fmtCount)
	}
	var labels []string
	for i := lo; i <= hi; i++ {
		labels = append(labels, fmtMS(math.Pow(10, float64(i)/perDecade)/1000))
	}
	ss := []series{{name: "total", color: "#1f77b4"}, {name: "added", color: "#2ca02c"}}
	for k, hist := range [][]loadtest.Bucket{s.Histogram, s.AddedHistogram} {
		ss[k].ys = make([]float64, hi-lo+1)
		for _, b := range hist {
			ss[k].ys[binOf(b.Low)-lo] += float64(b.Count)
		}
	}
	return barChart("Latency histogram (transactions per bin, bins from the value shown, 4 a decade)", labels, ss, fmtCount)
}

func fmtCount(v float64) string { return fmt.Sprintf("%.0f", v) }

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"d":         func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() },
	"mib":       func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) },
	"f1":        func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f3":        func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"keys":      loadtest.SortedKeys,
	"batchRows": batchRows,
}).Parse(reportHTML))

const reportHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tillbench {{.R.Options.Scenario}}: {{.Verdict}}</title>
<style>
body{font-family:sans-serif;margin:2em;color:#222;max-width:960px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.PASS{color:#080}.FAIL{color:#c00}svg{display:block;margin:1em 0}
</style></head><body>
<h1>tillbench: {{.R.Options.Scenario}} <span class="{{.Verdict}}">{{.Verdict}}</span></h1>
<p>{{.R.Started.UTC.Format "2006-01-02 15:04:05"}} UTC, {{.R.Options.Registers}} registers, mix {{.R.Options.Mix}}{{if .R.Options.Rate}}, open loop at {{f1 .R.Options.Rate}} tx/s{{if .R.Options.Profile}} peak, profile {{.R.Options.Profile}}{{end}}{{else}}, closed loop{{end}}{{if .R.Options.Transactions}}, {{.R.Options.Transactions}} transactions{{end}}, load phase {{.R.Options.Duration}}.
{{with .R.Options.Local}}Local cluster: {{.Nodes}} node(s), acqsim latency {{.AcqsimLatency}}{{if .KillActiveEvery}}, SIGKILL of the active every {{.KillActiveEvery}} (restart after {{.RestartAfter}}){{end}}{{if .PauseActive}}, SIGSTOP of the active for {{.PauseActive}} mid-run{{end}}.{{end}}</p>
<table><tr><th>figure</th><th>value</th></tr>
<tr><td>completed</td><td>{{.S.Completed}}</td></tr>
{{if .S.Offered}}<tr><td>offered (dropped: no idle register)</td><td>{{.S.Offered}} ({{.S.Dropped}})</td></tr>{{end}}
<tr><td>throughput over the run</td><td>{{f1 .S.Throughput}} tx/s</td></tr>
<tr><td>best 10 s</td><td>{{f1 .S.PeakThroughput}} tx/s</td></tr>
<tr><td>errors (outcome unknown, not sent)</td><td>{{.S.Errors}} ({{.S.Unknown}}, {{.S.NotSent}})</td></tr>
</table>
<h2>Latency</h2>
<table><tr><th></th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{{range .Latencies}}<tr><td>{{.Name}}</td><td>{{.L.Count}}</td><td>{{d .L.P50}}</td><td>{{d .L.P90}}</td><td>{{d .L.P99}}</td><td>{{d .L.P999}}</td><td>{{d .L.Max}}</td></tr>
{{end}}</table>
{{.LatencyPlot}}
{{.ThroughputPlot}}
{{.HistogramPlot}}
{{if .S.Faults}}<h2>Faults: time to resume</h2>
<p>From the fault to each register's first answer from another node (or from the faulted node once it is back); percentiles over the registers that resumed. "first" is the gap until the fleet's first such answer.</p>
<table><tr><th>fault</th><th>node</th><th>at</th><th>back</th><th>resumed</th><th>first</th><th>p50</th><th>p99</th><th>max</th></tr>
{{range .S.Faults}}<tr><td>{{.Kind}}</td><td>{{.Node}}</td><td>{{d .At}}</td><td>{{d .Back}}</td><td>{{.Resumed}}/{{.Registers}}</td><td>{{d .First}}</td><td>{{d .P50}}</td><td>{{d .P99}}</td><td>{{d .Max}}</td></tr>
{{end}}</table>{{end}}
{{with .R.Resume}}<h2>Time to resume, from the fault and from the election</h2>
<p>From the registers' history: per register, its first answer to a financial request after the fault from a node that serves (not the one the fault silenced, until the fault ends); "waited" is how long each register waited for that answer because of the fault (from the later of the fault and the request's sending: "from fault" also counts the time a register had nothing to send); "from election" is over the registers that resumed after the first leader elected after the fault.</p>
<table><tr><th>fault</th><th>target</th><th>at</th><th>length</th><th>resumed</th><th>from fault p50</th><th>p99</th><th>max</th><th>waited p50</th><th>p99</th><th>max</th><th>elections</th><th>elected after</th><th>from election p50</th><th>p99</th><th>max</th><th>n</th></tr>
{{range .}}<tr><td>{{.Kind}}</td><td>{{.Target}}</td><td>{{d .At}}</td><td>{{d .Length}}</td><td>{{.Resumed}}/{{.Registers}}</td><td>{{d .FromFault.P50}}</td><td>{{d .FromFault.P99}}</td><td>{{d .FromFault.Max}}</td><td>{{d .Waited.P50}}</td><td>{{d .Waited.P99}}</td><td>{{d .Waited.Max}}</td><td>{{.Elections}}</td><td>{{if .Elections}}{{d .Elected}} ({{.Leader}}){{else}}-{{end}}</td><td>{{d .FromElection.P50}}</td><td>{{d .FromElection.P99}}</td><td>{{d .FromElection.Max}}</td><td>{{.FromElection.N}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Resources}}<h2>Resources per process (load phase)</h2>
<table><tr><th>node</th><th>CPU s</th><th>CPU s / 1,000 tx</th><th>max RSS</th><th>max anon</th><th>source</th></tr>
{{range .R.Resources}}<tr><td>{{.Node}}</td><td>{{f1 .CPUSeconds}}</td><td>{{f3 .CPUPer1000}}</td><td>{{mib .MaxRSS}}</td><td>{{if .MaxAnon}}{{mib .MaxAnon}}{{else}}-{{end}}</td><td>{{.Source}}{{if .Err}} ({{.Err}}){{end}}</td></tr>
{{end}}</table>{{end}}
<h2>Answers</h2>
<table><tr><th>response code</th><th>count</th></tr>{{range $k := keys .S.ByRC}}<tr><td>{{$k}}</td><td>{{index $.S.ByRC $k}}</td></tr>{{end}}</table>
<table><tr><th>kind</th><th>count</th></tr>{{range $k := keys .S.ByKind}}<tr><td>{{$k}}</td><td>{{index $.S.ByKind $k}}</td></tr>{{end}}</table>
{{with .R.Client}}<p>Failover client: repeats {{.Repeats}}, resends {{.Resends}}, timeouts {{.Timeouts}}, late answers {{.LateAnswers}}, failovers {{.Failovers}}, reversals queued {{.ReversalsQueued}}, acknowledged {{.ReversalsAcked}}.</p>{{end}}
{{with .R.RaftTerms}}{{if ne (index . 0) (index . 1)}}<p>Raft term {{index . 0}} before the load, {{index . 1}} after: leadership moved during the run{{with $.R.Leaders}} (new terms seen at{{range .}} {{d .At}}: {{.Leader}} term {{.Term}};{{end}} marked on the plots){{end}}.</p>{{end}}{{end}}
{{with .R.Batches}}<h2>Register batches (0500)</h2>
<p>{{.Registers}} registers: {{.Balanced}} balanced, {{.AfterUpload}} closed after an upload ({{.Uploaded}} 0320s), {{.Failed}} failed{{range $k, $v := .Failures}}; {{$k}}: {{$v}}{{end}}.</p>
<table><tr><th>totals</th><th>registers</th><th>amount</th><th>cluster (0510)</th><th>amount</th></tr>
{{range batchRows .}}<tr><td>{{.Name}}</td><td>{{.RegCount}}</td><td>{{.RegAmount}}</td><td>{{.ClusterCount}}</td><td>{{.ClusterAmount}}</td></tr>
{{end}}</table>{{end}}
{{with .R.Days}}<h2>Business day</h2>
<table><tr><th>day</th><th>acquirer</th><th>rows</th><th>net</th><th>file SHA-256</th><th>identical on every node</th><th>reconciled</th><th>settled after the cutover</th></tr>
{{range .}}<tr><td>{{.Day}}</td><td>{{.Acquirer}}</td><td>{{.Rows}}</td><td>{{.Net}}</td><td><code>{{.CSVSHA256}}</code></td><td>{{.Identical}}</td><td>{{.Reconciled}}{{if .Discrepancies}} ({{.Discrepancies}} discrepancies){{end}}</td><td>{{d .Took}}{{with .Err}} <b class="FAIL">{{.}}</b>{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .R.Verdict}}<h2>Per-identity check</h2>
<p class="{{if .OK}}PASS{{else}}FAIL{{end}}">{{.Summary}}{{with .Err}}<b class="FAIL">no verdict: {{.}}</b>{{end}}</p>
{{with .Quiet}}<p class="FAIL">Not quiet at the end: {{.}}</p>{{end}}
<table><tr><th>identities</th><th>approved</th><th>declined</th><th>unknown</th><th>not sent</th><th>reversed</th><th>nodes</th><th>acquirer records</th><th>faults injected</th></tr>
<tr><td>{{.Identities}}</td><td>{{.Approved}}</td><td>{{.Declined}}</td><td>{{.Unknown}}</td><td>{{.NotSent}}</td><td>{{.Reversed}}</td><td>{{.Nodes}}</td><td>{{.AcqRecords}}</td><td>{{.Faults}}</td></tr></table>
{{if .ByInvariant}}<table><tr><th>invariant</th><th>violations</th></tr>{{range $k, $v := .ByInvariant}}<tr><td>{{$k}}</td><td>{{$v}}</td></tr>{{end}}</table>{{end}}
{{range .Skipped}}<p>Not checked: {{.}}</p>{{end}}
{{if .Violations}}<pre>{{.Text}}</pre>{{end}}{{end}}
{{with .R.Injected}}<h2>Faults injected</h2>
<table><tr><th>fault</th><th>target</th><th>at (UTC)</th><th>until</th></tr>
{{range .}}<tr><td>{{.Kind}}</td><td>{{.Target}}</td><td>{{.At.UTC.Format "15:04:05.000"}}</td><td>{{if not .End.IsZero}}{{.End.UTC.Format "15:04:05.000"}}{{end}}</td></tr>
{{end}}</table>{{end}}
<h2>Checks</h2>
<table><tr><th>check</th><th>result</th><th>detail</th></tr>
{{range .R.Checks}}<tr><td>{{.Name}}</td><td>{{if .Skip}}skip{{else if .Pass}}ok{{else}}<b class="FAIL">FAIL</b>{{end}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>
<p class="{{.Verdict}}"><b>{{.Verdict}}</b></p>
</body></html>
`
