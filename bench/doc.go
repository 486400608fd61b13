// Package bench is the harness of tillbench. RunAgainst drives a loadtest
// fleet against a running cluster; RunLocal first starts a cluster of its
// own (acqsim and 1 or 3 `tillgate serve` processes in a temp dir on free
// ports), and can SIGKILL or SIGSTOP the active under load. Both run one
// path: a named scenario (closed, open, latency, day), a live progress line
// every second, CPU and memory per node (/proc for the processes it
// started, /metrics otherwise), the Raft terms seen, then the invariant
// checks through the admin APIs (no INTENT left open, equal state hashes
// at the same applied index, every node's totals equal acqsim's, no
// acqsim duplicate but a takeover's repeats), PASS or FAIL, and a text
// summary, a JSON report and a self-contained HTML report with inline SVG
// plots.
package bench
