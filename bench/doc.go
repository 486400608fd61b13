// Package bench is the harness of tillbench: it drives a loadtest fleet
// against a running cluster, prints a live progress line, checks the
// invariants at the end through the admin APIs (every node's totals equal
// the acquirer simulator's; every node's state hash equal at the same
// applied index) and writes a text summary and a JSON report.
//
// Not yet here: starting a local cluster as processes, fault injection,
// the HTML report.
package bench
