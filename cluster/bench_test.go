package cluster_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkApply3Nodes: 3 voters in one process on loopback, raft log
// fsync on, 300-byte commands from 512 goroutines against the leader. The
// state machine is in memory, so this is the Raft commit path alone (group
// commit, replication, fsync); store's own bbolt commit comes on top.
// Run: go test ./cluster -run '^$' -bench Apply3Nodes -benchtime=20000x
func BenchmarkApply3Nodes(b *testing.B) {
	tc := newTestCluster(b, 3, nil)
	leader := tc.waitLeader()
	cmd := bytes.Repeat([]byte("x"), 300)
	const workers = 512

	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := leader.c.Apply(context.Background(), cmd); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d applies failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// BenchmarkApplyOneAtATime: one Apply at a time on the leader of 3 voters
// in one process (fsync on, in-memory state machine): nothing is batched,
// so this is the fixed latency of one commit round (leader write, one
// follower's write, the apply, the wake-ups back to the caller), as at a
// moderate rate. Reports the median and p99 of one Apply.
// Run: go test ./cluster -run '^$' -bench ApplyOneAtATime -benchtime=3000x
func BenchmarkApplyOneAtATime(b *testing.B) {
	tc := newTestCluster(b, 3, nil)
	leader := tc.waitLeader()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		cmd := bytes.Repeat([]byte("x"), 300)
		start := time.Now()
		if _, err := leader.c.Apply(context.Background(), cmd); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
