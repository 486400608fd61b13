// Package simulation is a randomized, seeded fault simulation of a whole
// cluster in one process.
//
// One seed is one run: a temporary directory, the acquirer simulator
// (acquirer/sim) in process over TCP, a 3-node internal/localcluster (real
// Raft, real stores on disk), and 10-30 registers, each a real
// failover.Client with its own queue file. Every register sends a seeded
// random mix (purchases, refunds, cashback, balance inquiries, pre-auths
// and their completions, 0120 advices, reversals of approved and of unknown
// purchases, repeats, echoes) while a seeded fault schedule runs under the
// load: the acquirer down, slow, dropping, late or duplicating, its
// connections cut; the leader stopped and restarted from its data;
// leadership transferred away and back; a failing state-file commit on one
// node; register timeouts and register restarts. Every request, every
// queued and acknowledged store-and-forward entry (package history) and
// every injected fault is recorded.
//
// At the end the faults are cleared, stopped nodes restarted, queues
// drained and batches closed (0500, with the 0320 upload on a 95), and the
// run waits for quiescence by polling what it then checks; verify (one
// function, verify.go) compares what the registers hold with every node and
// with the acquirer.
//
// Runs are seeded, not deterministic: the schedule and each register's
// choices come from the seed, but outcomes depend on real timers. A seed
// with violations keeps its history and node logs in an artifacts
// directory.
//
// A paused (SIGSTOP) node cannot be simulated in one process and is left
// out; systemtest's process tests cover it.
//
// Tiers: `go test ./simulation` runs a short tier (a few short seeds);
// `make sim` runs SEEDS (default 20) longer ones, `SEED=n make sim` one;
// see Config and ConfigFromEnv.
package simulation
