package bench

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/loadtest"
)

// sampleResult is a finished run with two faults, made without a cluster.
func sampleResult() *Result {
	rec := loadtest.NewRecorder(nil)
	for i := range 200 {
		rec.Begin()
		rec.End(loadtest.Result{Register: i % 20, Kind: loadtest.KindPurchase, Outcome: loadtest.OutcomeAnswered, RC: "00",
			Latency: time.Duration(1+i) * 100 * time.Microsecond, Acquirer: time.Duration(i%5) * time.Millisecond, Node: "node1"})
	}
	s := rec.Summary()
	s.Timeline = []loadtest.Window{{Second: 0, Count: 100, P50: time.Millisecond, P99: 5 * time.Millisecond, Max: 9 * time.Millisecond, AddedP99: 2 * time.Millisecond},
		{Second: 1, Count: 5, Errors: 2, P50: 300 * time.Millisecond, P99: 1500 * time.Millisecond, Max: 2 * time.Second},
		{Second: 2, Count: 95, P50: time.Millisecond, P99: 6 * time.Millisecond, Max: 8 * time.Millisecond}}
	s.Faults = []loadtest.FaultResult{{Kind: "kill", Node: "node2", At: 900 * time.Millisecond, Back: 2 * time.Second, Resumed: 20, Registers: 20,
		First: 800 * time.Millisecond, P50: time.Second, P99: 1200 * time.Millisecond, Max: 1300 * time.Millisecond}}
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	return &Result{
		Injected: []check.Fault{{Kind: "kill", Target: "node2", At: t0, End: t0.Add(time.Second)}},
		Verdict:  sampleVerdict(t0),
		Options: OptionsJSON{Scenario: ScenarioDay, Registers: 20, Duration: 3 * time.Second, Rate: 100, Profile: "day", Mix: "purchase=1",
			Local: &LocalJSON{Nodes: 3, AcqsimLatency: "0-5ms", KillActiveEvery: time.Second, RestartAfter: time.Second}},
		Summary:   s,
		Resources: []NodeResources{{Node: "node1", CPUSeconds: 1.5, CPUPer1000: 7.5, MaxRSS: 40 << 20, Source: "proc"}},
		Checks:    []Check{{Name: "replicas converge", Pass: true}, {Name: "totals <&>", Detail: "a <b> detail"}},
		RaftTerms: [2]uint64{2, 3},
		Leaders:   []LeaderChange{{At: 1500 * time.Millisecond, Term: 3, Leader: "node3"}},
		Batches: &loadtest.BatchSummary{Registers: 20, Balanced: 18, AfterUpload: 1, Uploaded: 7, Failed: 1,
			Failures: map[string]int64{"0510 rc 96": 1}, Errors: []string{"register L0000003: 0500 answered 96"},
			Register: loadtest.BatchTotals{DebitsCount: 150, DebitsAmount: 1234567, Net: 1234567},
			Cluster:  loadtest.BatchTotals{DebitsCount: 149, DebitsAmount: 1234000, Net: 1234000}},
	}
}

// sampleVerdict is the checker's verdict on a run that lost an approval:
// the register holds 00, no node has the transaction.
func sampleVerdict(t0 time.Time) *Verdict {
	e := history.Event{Kind: history.Request, Register: "L0000001", ID: "L0000001000001<x>", MTI: "0200", Amount: 100,
		Invoke: t0.UnixNano(), Return: t0.Add(time.Millisecond).UnixNano(), Outcome: history.Answered, RC: "00", AuthCode: "A1"}
	rep := check.Run(check.Input{History: []history.Event{e}, Nodes: []check.Node{{ID: "node1", Hash: "h"}}, SkipAcquirer: true})
	v := &Verdict{}
	v.fill(rep)
	return v
}

func TestHTMLReportIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, sampleResult()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if os.Getenv("TILLBENCH_WRITE_SAMPLE") != "" {
		os.WriteFile("/tmp/sample-report.html", b.Bytes(), 0o644)
	}
	// Nothing from outside: no script, no link, no src, no URL but the SVG namespace.
	noNS := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, bad := range []string{"<script", "<link", "src=", "http://", "https://", "@import", "url("} {
		if strings.Contains(noNS, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	for _, want := range []struct {
		what, re string
		n        int
	}{
		{"three inline SVG plots", `<svg xmlns="http://www.w3.org/2000/svg"`, 3},
		{"latency lines (p50, p99, max, added p99) and throughput lines", `<polyline class="series"`, 6},
		{"latency-over-time title", `Latency over time`, 1},
		{"histogram bars", `<rect class="bar"`, 2},
		{"fault markers on both time plots", `>kill node2</text>`, 2},
		{"leader change markers on both time plots", `>term 3 node3</text>`, 2},
		{"the verdict", `<b>FAIL</b>`, 1},
		{"the time to resume", `<td>kill</td><td>node2</td>`, 1},
		{"escaped detail", `a &lt;b&gt; detail`, 1},
		{"the batch close", `18 balanced, 1 closed after an upload \(7 0320s\), 1 failed; 0510 rc 96: 1`, 1},
		{"the batch totals", `<td>debits \(DE76, DE88\)</td><td>150</td><td>1234567</td><td>149</td><td>1234000</td>`, 1},
		{"the checker's verdict", `check FAIL: 1 identities \(1 approved`, 1},
		{"its violations by invariant", `<td>I1</td><td>`, 1},
		{"the violation's history, escaped", `L0000001000001&lt;x&gt;`, 1},
		{"what was not checked", `Not checked: acquirer: no ledger read`, 1},
		{"the faults injected", `<td>kill</td><td>node2</td><td>10:00:00.000</td><td>10:00:01.000</td>`, 1},
	} {
		if got := len(regexp.MustCompile(want.re).FindAllString(page, -1)); got < want.n {
			t.Errorf("%s: %d matches of %q, want at least %d", want.what, got, want.re, want.n)
		}
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(page), "</html>") {
		t.Error("not a whole HTML page")
	}
}

func TestSummaryText(t *testing.T) {
	var b bytes.Buffer
	r := sampleResult()
	WriteSummary(&b, r)
	for _, want := range []string{"Scenario:\tday", "added", "Time to resume", "kill", "node2", "CPU s/1000 tx", "node1", "term 3, leader node3", "FAIL",
		"Register batches (0500): 20 registers, 18 balanced, 1 after upload (7 0320s), 1 failed", "debits (DE76, DE88)", "1234567", "1234000",
		"failed: register L0000003", "Per-identity check", "check FAIL: 1 identities", "violation 1 of", "I1 L0000001000001<x>",
		"skipped: acquirer: no ledger read"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     loadtest.Snapshot
		total time.Duration
		txns  int64
		want  string
	}{
		{"by time", loadtest.Snapshot{Elapsed: 3200 * time.Millisecond, Completed: 1234, TxPerSec: 410, P99: 12345 * time.Microsecond, InFlight: 20},
			10 * time.Second, 0,
			"    3s      410 tx/s  in flight    20  p99  12.35ms  done      1234  errors 0 (unknown 0, not sent 0)  eta 7s"},
		{"by count, sooner", loadtest.Snapshot{Elapsed: 2 * time.Second, Completed: 1000, TxPerSec: 500, P99: time.Millisecond, Errors: 3, Unknown: 2, NotSent: 1},
			time.Hour, 2000,
			"    2s      500 tx/s  in flight     0  p99      1ms  done      1000  errors 3 (unknown 2, not sent 1)  eta 2s"},
		{"over", loadtest.Snapshot{Elapsed: 11 * time.Second}, 10 * time.Second, 0,
			"   11s        0 tx/s  in flight     0  p99       0s  done         0  errors 0 (unknown 0, not sent 0)  eta 0s"},
	} {
		if got := progressLine(tc.s, tc.total, tc.txns); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestScenarios(t *testing.T) {
	day := loadtest.DayProfile().MeanFactor()
	for _, tc := range []struct {
		in   Options
		want Options // the fields compared
	}{
		{Options{}, Options{Scenario: ScenarioClosed, Registers: 2000, Duration: time.Minute}},
		{Options{Rate: 50}, Options{Scenario: ScenarioOpen, Registers: 2000, Duration: time.Minute, Rate: 50}},
		{Options{Scenario: ScenarioLatency}, Options{Scenario: ScenarioLatency, Registers: 2000, Duration: time.Minute, Rate: 2000}},
		{Options{Scenario: ScenarioDay}, Options{Scenario: ScenarioDay, Registers: 2000, Transactions: 1_000_000, Rate: 20000,
			Duration: time.Duration(1e6 / (20000 * day) * float64(time.Second))}},
		{Options{Scenario: ScenarioDay, Transactions: 50000, Duration: 100 * time.Second, Registers: 200},
			Options{Scenario: ScenarioDay, Registers: 200, Transactions: 50000, Rate: 500 / day, Duration: 100 * time.Second}},
		{Options{Scenario: ScenarioClosed, Transactions: 2000}, Options{Scenario: ScenarioClosed, Registers: 2000, Transactions: 2000, Duration: 24 * time.Hour}},
	} {
		o := tc.in
		if err := o.applyScenario(); err != nil {
			t.Fatal(err)
		}
		got := Options{Scenario: o.Scenario, Registers: o.Registers, Duration: o.Duration, Rate: o.Rate, Transactions: o.Transactions}
		if got.Scenario != tc.want.Scenario || got.Registers != tc.want.Registers || got.Transactions != tc.want.Transactions ||
			(got.Duration-tc.want.Duration).Abs() > time.Millisecond || (got.Rate-tc.want.Rate) > 1e-6 || (tc.want.Rate-got.Rate) > 1e-6 {
			t.Errorf("%+v: got %+v, want %+v", tc.in, got, tc.want)
		}
		if o.Scenario == ScenarioDay && o.Profile.Name != "day" {
			t.Errorf("day without the day profile")
		}
	}
	o := Options{Scenario: "weekend"}
	if err := o.applyScenario(); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
process_resident_memory_bytes 4.2e+07
process_start_time_seconds 1.7e+09
tillgate_transactions_total{kind="purchase"} 3
`
	v, err := parseMetrics(strings.NewReader(text), "process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds")
	if err != nil || v[0] != 12.5 || v[1] != 4.2e7 || v[2] != 1.7e9 {
		t.Fatalf("%v %v", v, err)
	}
	if _, err := parseMetrics(strings.NewReader(text), "go_goroutines"); err == nil {
		t.Error("a missing metric is not an error")
	}
}

func TestProcReadings(t *testing.T) {
	pid := os.Getpid()
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	cpu, err := procCPU(pid)
	if err != nil || cpu <= 0 {
		t.Fatalf("cpu %v err %v", cpu, err)
	}
	mem, err := readProcMem(pid)
	if err != nil || mem.hwm < 1<<20 || mem.anon < 1<<20 || mem.anon > mem.hwm {
		t.Fatalf("VmHWM %d RssAnon %d err %v", mem.hwm, mem.anon, err)
	}
	s := startSampling(t.Context(), procSource{pids: func() map[string]int { return map[string]int{"self": pid} }})
	res := s.stop(2000)
	if len(res) != 1 || res[0].Node != "self" || res[0].MaxRSS < 1<<20 || res[0].MaxAnon < 1<<20 || res[0].Samples < 2 || res[0].CPUPer1000 != res[0].CPUSeconds/2 {
		t.Fatalf("%+v", res)
	}
}

func TestBatchCheck(t *testing.T) {
	tot := loadtest.BatchTotals{DebitsCount: 3, DebitsAmount: 300, Net: 300}
	other := loadtest.BatchTotals{DebitsCount: 2, DebitsAmount: 200, Net: 200}
	for _, tc := range []struct {
		name   string
		s      *loadtest.BatchSummary
		faults bool
		pass   bool
		line   string
	}{
		{"all balanced", &loadtest.BatchSummary{Balanced: 5, Register: tot, Cluster: tot}, false, true, "register batches: 5 balanced, 0 after upload, 0 failed"},
		{"after upload without faults", &loadtest.BatchSummary{Balanced: 4, AfterUpload: 1, Register: tot, Cluster: other}, false, false, "register batches: 4 balanced, 1 after upload, 0 failed"},
		{"after upload with faults", &loadtest.BatchSummary{Balanced: 4, AfterUpload: 1, Register: tot, Cluster: other}, true, true, "register batches: 4 balanced, 1 after upload, 0 failed"},
		{"failed", &loadtest.BatchSummary{Balanced: 4, Failed: 1, Failures: map[string]int64{"0510 rc 96": 1}, Register: tot, Cluster: tot}, true, false, "register batches: 4 balanced, 0 after upload, 1 failed"},
		{"balanced but totals differ", &loadtest.BatchSummary{Balanced: 5, Register: tot, Cluster: other}, false, false, "register batches: 5 balanced, 0 after upload, 0 failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := batchCheck(tc.s, tc.faults)
			if c.Pass != tc.pass || c.Name != tc.line || c.Skip {
				t.Fatalf("check %+v, want pass %v line %q", c, tc.pass, tc.line)
			}
		})
	}
	if c := batchCheck(nil, false); !c.Skip {
		t.Fatalf("no batch close: %+v, want skip", c)
	}
}
