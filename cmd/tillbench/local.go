package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tillgate/tillgate/bench"
)

// localCommand is `tillbench local`: a cluster of its own under load.
type localCommand struct {
	out io.Writer
}

func (c *localCommand) Usage() string {
	return `usage: tillbench local [--nodes 3|1] [--scenario closed|open|latency|day] [flags]

Starts acqsim (--strict: as strict as a real host, with host echoes
every few seconds) and --nodes tillgate processes (3: a Raft cluster; 1:
a single node without replication) in a temp dir on free loopback ports,
waits for an active, runs the scenario against them, optionally killing
(--kill-active-every), pausing (--pause-active) or cutting off
(--partition-active) the active under load, or running one scenario of
the fault suite (--chaos NAME, see below),
closes the registers' batches and runs the per-identity checker over the
registers' history, every node and acqsim's ledger (see 'tillbench run
-h'), scans the nodes' files and logs for clear card data (I8), closes
the business day, prints PASS or FAIL (exit 1) and stops everything. The
binaries are --tillgate-bin/--acqsim-bin, else the ones beside
tillbench, else built with 'go build' from the module around the working
directory.

The standard day:
  tillbench local --scenario day --out day-report

--partition-active D drops the active's Raft traffic both ways (its
register port stays reachable: registers still reach every node) once,
at half of --duration, for D, then heals. It needs root and iptables
(package internal/faultnet): whenever they are there, every node runs as
a user of its own (tgnode1..N, created if missing) so that iptables can
tell the nodes' traffic apart; without them the flag is refused.

--tls runs every link over TLS, with a CA and certificates made for the
run in the work dir's tls/: the registers (a register certificate
required), Raft (mutual), the nodes' links to acqsim (a client
certificate required) and the admin APIs (HTTPS). --tls-cost runs the load twice, back to back, each on a
cluster of its own with the same seed: plain, then --tls; it prints
both summaries and then the two side by side (throughput, p50-p99.9).
The cost of TLS at 2,000 registers, closed loop:
  tillbench local --tls-cost --registers 2000 --duration 60s

--chaos NAME runs one scenario of the fault suite (make chaos runs them
all) beside a closed-loop load (200 registers, 100 ms think time unless
given) that lasts until the scenario is over: ` + strings.Join(bench.ChaosScenarioNames(), ", ") + `.
--chaos-hold sets how long a cut lasts (or a failed disk stays down),
--chaos-flapping how long the flapping goes on. The report gives, per
fault, the time from the fault and from the next election to each
register's first answer, and the elections.

`
}

func (c *localCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	nodes := fs.Int("nodes", 3, "tillgate processes: 3, or 1 for a single node without replication")
	tillgate := fs.String("tillgate-bin", "", "tillgate binary (default: beside tillbench, else go build)")
	acqsim := fs.String("acqsim-bin", "", "acqsim binary (default: beside tillbench, else go build)")
	dir := fs.String("dir", "", "work dir for data, configs and logs (default: a temp dir, removed after a PASS)")
	keep := fs.Bool("keep", false, "keep the work dir after a PASS")
	latency := fs.String("acqsim-latency", "0-5ms", "acqsim answer latency, fixed or a range")
	kill := fs.Duration("kill-active-every", 0, "SIGKILL the active's process this often, restart it --restart-after later")
	restart := fs.Duration("restart-after", 2*time.Second, "delay before a killed node is restarted")
	kills := fs.Int("kills", 0, "stop killing after this many kills (0: no limit)")
	pause := fs.Duration("pause-active", 0, "SIGSTOP the active for this long once, mid-run, then SIGCONT")
	partition := fs.Duration("partition-active", 0, "cut the active's Raft traffic both ways once, mid-run, for this long, then heal (root and iptables)")
	chaos := fs.String("chaos", "", "run this scenario of the fault suite: "+strings.Join(bench.ChaosScenarioNames(), ", "))
	hold := fs.Duration("chaos-hold", bench.DefaultChaosHold, "--chaos: how long a cut lasts, or a failed disk stays down")
	flapping := fs.Duration("chaos-flapping", bench.DefaultChaosFlapping, "--chaos flapping: how long to cut and heal")
	nodeLog := fs.String("node-log-level", "warn", "the nodes' --log-level (their logs are in the work dir): debug, info, warn or error")
	raftTimeout := fs.Duration("raft-timeout", 0, "the nodes' Raft heartbeat and election timeout (default: the node's, 500ms)")
	useTLS := fs.Bool("tls", false, "every link over TLS: registers (client certificate required), Raft (mutual), acqsim, admin")
	tlsCost := fs.Bool("tls-cost", false, "run the load plain, then over TLS, each on a cluster of its own, and compare them")
	lf := addLoadFlags(fs, bench.ScenarioClosed)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, fs.Args())
	}
	o, err := lf.options(c.out)
	if err != nil {
		return err
	}
	stop, err := lf.profile()
	if err != nil {
		return err
	}
	defer stop()
	if os.Getenv("GOMAXPROCS") == "" && *kill == 0 && *pause == 0 && *partition == 0 && *chaos == "" {
		// The box is the cluster's too (bench.Options.LoadProcs). Not
		// under faults: their resume times are the registers' to measure,
		// 2,000 of them waking at once.
		o.LoadProcs = 1
	}
	lo := bench.LocalOptions{
		Load: o, Nodes: *nodes, TillgateBin: *tillgate, AcqsimBin: *acqsim, Dir: *dir, KeepDir: *keep,
		AcqsimLatency: *latency, KillActiveEvery: *kill, RestartAfter: *restart, MaxKills: *kills, PauseActive: *pause,
		PartitionActive: *partition, Chaos: *chaos, ChaosHold: *hold, ChaosFlapping: *flapping, RaftTimeout: *raftTimeout, NodeLogLevel: *nodeLog,
		TLS: *useTLS,
	}
	if *tlsCost {
		plain, secure, err := bench.RunLocalTLSCost(ctx, lo)
		if err == nil && !plain.Pass {
			return errFailed
		}
		return verdict(secure, err)
	}
	return verdict(bench.RunLocal(ctx, lo))
}
