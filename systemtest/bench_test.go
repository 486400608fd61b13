package systemtest

import (
	"testing"
	"time"

	"github.com/tillgate/tillgate/internal/regsim"
)

// BenchmarkEndToEnd drives 2,000 registers with no think time through 3
// in-process nodes (INTENT and OUTCOME replicated, fsync on) and the
// acquirer simulator (0-2 ms). Use -benchtime Nx with N a multiple of 2,000.
func BenchmarkEndToEnd(b *testing.B) {
	e := mustStart(b)
	const registers = 2000
	per := max(b.N/registers, 1)
	cfg := e.fleetConfig(registers, per)
	cfg.ThinkTime, cfg.RepeatRatio = 0, 0
	f := regsim.New(cfg)
	ctx, cancel := withTimeout(30 * time.Minute)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	results := f.Run(ctx)
	elapsed := time.Since(start)
	b.StopTimer()
	var lat []time.Duration
	unknown := 0
	for _, r := range results {
		if r.RC == "" {
			unknown++
			continue
		}
		lat = append(lat, r.Latency)
	}
	b.ReportMetric(float64(len(results))/elapsed.Seconds(), "tx/s")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(unknown), "unknown")
}
