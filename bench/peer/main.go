// Command peer is the etcd side of `make peer-bench`: concurrent writers of
// fixed-size values against an etcd cluster, closed loop, for a fixed time.
// It lives in its own Go module so that tillgate's go.mod never carries
// etcd's client. It prints one line the script reads:
//
//	puts N seconds S puts/s R p50 X p99 Y errors E
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	endpoints := flag.String("endpoints", "", "comma-separated etcd client URLs (required)")
	writers := flag.Int("writers", 2000, "concurrent writers, each with one put in flight")
	size := flag.Int("value-size", 400, "bytes per value")
	duration := flag.Duration("duration", 30*time.Second, "how long writers start new puts")
	conns := flag.Int("clients", 4, "etcd client connections the writers share")
	flag.Parse()
	if *endpoints == "" || *writers < 1 || *conns < 1 {
		fmt.Fprintln(os.Stderr, "peer: --endpoints is required; --writers and --clients must be positive")
		os.Exit(2)
	}
	if err := run(strings.Split(*endpoints, ","), *writers, *size, *duration, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func run(endpoints []string, writers, size int, duration time.Duration, conns int) error {
	clients := make([]*clientv3.Client, conns)
	for i := range clients {
		c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("connect %v: %w", endpoints, err)
		}
		defer c.Close()
		clients[i] = c
	}
	// One put first: the cluster has a leader and the clients are connected
	// before the clock starts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err := clients[0].Put(ctx, "peer/warmup", "x")
	cancel()
	if err != nil {
		return fmt.Errorf("warm-up put: %w", err)
	}
	value := strings.Repeat("v", size)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(duration)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w%conns]
			var mine []time.Duration
			bad := 0
			for n := 0; time.Now().Before(stop); n++ {
				t := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Put(ctx, fmt.Sprintf("peer/%d/%d", w, n%64), value)
				cancel()
				if err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))]
	}
	fmt.Printf("puts %d seconds %.1f puts/s %.1f p50 %v p99 %v errors %d\n",
		len(latencies), elapsed, float64(len(latencies))/elapsed, pct(0.5), pct(0.99), errs)
	return nil
}
