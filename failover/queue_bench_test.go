package failover

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// The write-ahead's price: a commit before a request leaves and one after
// its answer (fsync'd unless Config.QueueNoSync). Measured with `go test
// -run - -bench Queue ./failover/` on the disk that holds TMPDIR (a tmpfs
// makes fsync free and the figures meaningless).

// BenchmarkQueueWriteAhead is one request's queue work: write ahead, remove.
func BenchmarkQueueWriteAhead(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(syncName(noSync), func(b *testing.B) {
			q, err := openQueue(filepath.Join(b.TempDir(), "q.db"), noSync, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer q.close()
			orig := purchase(100)
			for i := 0; b.Loop(); i++ {
				e := &entry{Msg: Reversal(orig, pad6(uint32(i%999999+1)), "1203120000"), Of: orig.Key(), Held: true}
				if err := q.add(e); err != nil {
					b.Fatal(err)
				}
				if _, err := q.remove(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQueueFleet runs a fleet of registers (one client and queue file
// each, as loadtest does) in one process against a node that approves at
// once, closed loop: purchases with each queue mode, and balance
// inquiries (nothing written ahead) as the baseline.
func BenchmarkQueueFleet(b *testing.B) {
	const registers = 200
	for _, tc := range []struct {
		name, proc string
		noSync     bool
	}{{"fsync", "000000", false}, {"nosync", "000000", true}, {"no-write-ahead", "310000", false}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFake(b, approve)
			clients := openFleet(b, f.Addr, registers, tc.noSync)
			var left atomic.Int64
			left.Store(int64(b.N))
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if _, err := c.Do(context.Background(), fleetRequest(c, i, tc.proc)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

func syncName(noSync bool) string {
	if noSync {
		return "nosync"
	}
	return "fsync"
}

func openFleet(b *testing.B, addr string, n int, noSync bool) []*Client {
	dir := b.TempDir()
	out := make([]*Client, n)
	for i := range out {
		cfg := testConfig(b, addr)
		cfg.Deadline, cfg.AttemptTimeout = 30*time.Second, 10*time.Second
		cfg.Logger = nil
		cfg.ReversalQueue = filepath.Join(dir, fmt.Sprintf("reg%d.db", i))
		cfg.QueueNoSync = noSync
		out[i] = open(b, cfg)
	}
	return out
}

func fleetRequest(c *Client, reg int, proc string) *wire.Message {
	return &wire.Message{
		MTI: "0200", PAN: "4111111111111111", ProcCode: proc, Amount: 100, HasAmount: true,
		TransmissionTime: wire.TransmissionTime(time.Now()), STAN: c.NextSTAN(), LocalTime: "120000", LocalDate: "1203",
		Expiry: "3012", POSEntryMode: "051", POSCondition: "00",
		TerminalID: fmt.Sprintf("T%07d", reg), MerchantID: "MERCHANT0000001", Currency: "978",
	}
}
