package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/loadtest"
)

// TestWriteTLSCost: the steady figures leave the connect phase out.
func TestWriteTLSCost(t *testing.T) {
	run := func(slowStart bool) *Result {
		r := &Result{Pass: true, Options: OptionsJSON{Scenario: "closed", Registers: 2000}}
		for s := range 30 {
			w := loadtest.Window{Second: s, Count: 3000, P99: time.Duration(s%3+1) * 100 * time.Millisecond}
			if slowStart && s < connectPhase {
				w.Count, w.P99 = 10, 7*time.Second
			}
			r.Summary.Timeline = append(r.Summary.Timeline, w)
			r.Summary.Completed += w.Count
		}
		r.Summary.Throughput = float64(r.Summary.Completed) / 30
		r.Resources = []NodeResources{{Node: "node1", CPUPer1000: 0.2}, {Node: "tillbench", CPUPer1000: 0.1}}
		return r
	}
	var out bytes.Buffer
	WriteTLSCost(&out, run(false), run(true))
	lines := strings.Split(out.String(), "\n")
	for i, want := range map[int][]string{3: {"plain", "3000.0", "200ms", "0.300"}, 4: {"tls", "2003.3", "3000.0", "200ms"}} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %q lacks %q\n%s", lines[i], w, out.String())
			}
		}
	}
}
