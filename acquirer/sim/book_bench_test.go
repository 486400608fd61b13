package sim

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBook books new purchases from parallel goroutines (the
// committer shares commits, as under load), lenient and strict: strict adds the
// STAN-reuse seeks inside the shared transaction (measured ~1 us of CPU
// per request, no extra write).
func BenchmarkBook(b *testing.B) {
	for _, strict := range []bool{false, true} {
		b.Run(fmt.Sprintf("strict=%v", strict), func(b *testing.B) {
			l, err := OpenLedger(b.TempDir(), false)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			s := &Sim{cfg: Config{Strict: strict}, strict: StrictConfig{}.withDefaults(), now: time.Now}
			var n atomic.Int64
			b.SetParallelism(64)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					m := purchase(fmt.Sprintf("%06d", i%1000000), 1000)
					m.TerminalID = fmt.Sprintf("T%07d", i/1000)
					e := s.entryOf(m, "0200", time.Now().UTC())
					if _, what, err := l.book(e); err != nil || what != booked {
						b.Errorf("book: %v %v", what, err)
						return
					}
				}
			})
		})
	}
}
