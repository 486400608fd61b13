// Package bench is the harness of tillbench. RunAgainst drives a loadtest
// fleet against a running cluster; RunLocal first starts a cluster of its
// own (acqsim --strict and 1 or 3 `tillgate serve` processes in a temp dir
// on free ports), and can SIGKILL or SIGSTOP the active under load. Both
// run one path: a named scenario (closed, open, latency, day), a live
// progress line every second, CPU and memory per node (/proc for the
// processes it started, /metrics otherwise), the Raft terms seen; then the
// registers drain their queues and close their batches, and the run is
// judged by the one checker (package check): check.WaitQuiet, check.Collect
// over every node's admin API and acqsim's ledger, and check.Run over the
// registers' history (history.jsonl beside the report), the faults
// actually injected and what the registers' queues still hold. Then the
// business day closes and is reconciled with acqsim. PASS or FAIL, a text
// summary, a JSON report and a self-contained HTML report with inline SVG
// plots, each with the checker's verdict and its first violations.
package bench
