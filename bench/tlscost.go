package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"
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

// WriteTLSCost prints throughput and latency of a plain and a TLS run.
func WriteTLSCost(w io.Writer, plain, secure *Result) {
	fmt.Fprintf(w, "\nTLS cost (%s, %d registers, same seed):\n", plain.Options.Scenario, plain.Options.Registers)
	fmt.Fprintf(w, "  %-6s %10s %10s %10s %10s %10s  %s\n", "", "tx/s", "p50", "p90", "p99", "p99.9", "verdict")
	for _, r := range []struct {
		name string
		res  *Result
	}{{"plain", plain}, {"tls", secure}} {
		s, l := r.res.Summary, r.res.Summary.Latency
		verdict := "PASS"
		if !r.res.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "  %-6s %10.1f %10s %10s %10s %10s  %s\n", r.name, s.Throughput,
			l.P50.Round(10*time.Microsecond), l.P90.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.P999.Round(10*time.Microsecond), verdict)
	}
	if p := plain.Summary.Throughput; p > 0 {
		fmt.Fprintf(w, "  TLS throughput %+.1f%%, p99 %+.1f%%\n", 100*(secure.Summary.Throughput/p-1),
			100*(float64(secure.Summary.Latency.P99)/float64(max(plain.Summary.Latency.P99, 1))-1))
	}
}
