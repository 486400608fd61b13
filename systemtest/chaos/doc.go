// Package chaos is the process-level fault suite of issue 17: real
// `tillgate serve` processes (each running as a user of its own) and
// `acqsim serve --strict` on loopback, a fleet of registers on the
// failover client under load, one fault scenario per test (network cuts
// with iptables, a full disk, EIO from the state file and the Raft log),
// and the one checker (package check) at the end: 0 violations required.
//
// The scenarios themselves live in package bench (ChaosScenarios), which
// `tillbench local --chaos NAME` runs too. `go test ./systemtest/chaos`
// (inside `make test`, hence CI) runs one short scenario: the active cut
// off from its peers for 3 s. The whole suite is behind the build tag
// chaos: `make chaos`. Both need root and the iptables command; without
// them every test skips and says why.
//
// CHAOS_OUT=dir keeps each run's reports, history and process logs in
// dir/<scenario> and the figures in dir/table.md; CHAOS_KEEP=1 keeps the
// nodes' data dirs of passing runs too (a failing run's are always kept);
// CHAOS_NODE_LOG=info sets the nodes' log level.
package chaos
