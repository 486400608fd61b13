// Package loadtest simulates fleets of cash registers for load tests: each
// register is a failover.Client with its own reversal queue, driven closed
// loop (one transaction at a time, then a think time) or open loop (Poisson
// arrivals at a target rate across the idle registers). It records the
// latency of every transaction in a log-bucketed Histogram, counts answers
// by response code and errors by kind, and gives a live Snapshot and a
// final Summary.
//
// Message mix: purchases and refunds. Pre-auth + completion, reversals and
// echo are not generated yet (TODO).
package loadtest
