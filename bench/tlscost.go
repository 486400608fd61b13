package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/tillgate/tillgate/loadtest"
)

// RunLocalTLSCost measures what TLS costs: lo twice, back to back, each on
// a cluster of its own with the same load and seed, first plain, then
// with every link over TLS (Dir/plain and Dir/tls, reports in
// OutDir/plain and OutDir/tls when set). It prints the two side by side
// and returns both results (nil for a run that did not finish).
func RunLocalTLSCost(ctx context.Context, lo LocalOptions) (plain, secure *Result, err error) {
	at := func(dir, sub string) string {
		if dir == "" {
			return ""
		}
		return filepath.Join(dir, sub)
	}
	run := func(useTLS bool, sub string) (*Result, error) {
		o := lo
		o.TLS, o.Dir, o.Load.OutDir = useTLS, at(lo.Dir, sub), at(lo.Load.OutDir, sub)
		o.progressf("\n=== TLS cost: the %s run ===", sub)
		return RunLocal(ctx, o)
	}
	if plain, err = run(false, "plain"); err != nil {
		return plain, nil, err
	}
	if secure, err = run(true, "tls"); err != nil {
		return plain, secure, err
	}
	if lo.Load.Progress != nil {
		WriteTLSCost(lo.Load.Progress, plain, secure)
	}
	return plain, secure, nil
}

// connectPhase is the start of a run left out of its steady figures:
// 2,000 registers' first TLS handshakes take seconds on a small machine.
const connectPhase = 10

// WriteTLSCost prints throughput and latency of a plain and a TLS run:
// over the whole run, then after the connect phase (the per-second
// windows from connectPhase on: throughput and the median of their
// p99s), and the CPU of every process per 1,000 transactions.
func WriteTLSCost(w io.Writer, plain, secure *Result) {
	fmt.Fprintf(w, "\nTLS cost (%s, %d registers, same seed):\n", plain.Options.Scenario, plain.Options.Registers)
	fmt.Fprintf(w, "  %-6s %9s %9s %9s %9s %9s | %11s %11s | %14s  %s\n", "", "tx/s", "p50", "p90", "p99", "p99.9",
		fmt.Sprintf("tx/s >%ds", connectPhase), "p99/s med", "CPU s/1000 tx", "verdict")
	round := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	for _, r := range []struct {
		name string
		res  *Result
	}{{"plain", plain}, {"tls", secure}} {
		s, l := r.res.Summary, r.res.Summary.Latency
		verdict := "PASS"
		if !r.res.Pass {
			verdict = "FAIL"
		}
		rate, p99 := steady(s.Timeline)
		var cpu float64
		for _, n := range r.res.Resources {
			cpu += n.CPUPer1000
		}
		fmt.Fprintf(w, "  %-6s %9.1f %9s %9s %9s %9s | %11.1f %11s | %14.3f  %s\n", r.name, s.Throughput,
			round(l.P50), round(l.P90), round(l.P99), round(l.P999), rate, round(p99), cpu, verdict)
	}
	if p := plain.Summary.Throughput; p > 0 {
		fmt.Fprintf(w, "  TLS throughput %+.1f%%, p99 %+.1f%%\n", 100*(secure.Summary.Throughput/p-1),
			100*(float64(secure.Summary.Latency.P99)/float64(max(plain.Summary.Latency.P99, 1))-1))
	}
}

// steady is the throughput of the windows after the connect phase and the
// median of their p99s.
func steady(tl []loadtest.Window) (rate float64, p99 time.Duration) {
	if len(tl) <= connectPhase {
		return 0, 0
	}
	tl = tl[connectPhase:]
	var n int64
	p := make([]time.Duration, 0, len(tl))
	for _, w := range tl {
		n += w.Count
		p = append(p, w.P99)
	}
	slices.Sort(p)
	return float64(n) / float64(len(tl)), p[len(p)/2]
}
