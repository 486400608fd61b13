package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
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
(--kill-active-every) or pausing (--pause-active) the active under load,
closes the registers' batches and runs the per-identity checker over the
registers' history, every node and acqsim's ledger (see 'tillbench run
-h'), scans the nodes' files and logs for clear card data (I8), closes
the business day, prints PASS or FAIL (exit 1) and stops everything. The
binaries are --tillgate-bin/--acqsim-bin, else the ones beside
tillbench, else built with 'go build' from the module around the working
directory.

The standard day:
  tillbench local --scenario day --out day-report

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
	raftTimeout := fs.Duration("raft-timeout", 0, "the nodes' Raft heartbeat and election timeout (default: the node's, 500ms)")
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
	return verdict(bench.RunLocal(ctx, bench.LocalOptions{
		Load: o, Nodes: *nodes, TillgateBin: *tillgate, AcqsimBin: *acqsim, Dir: *dir, KeepDir: *keep,
		AcqsimLatency: *latency, KillActiveEvery: *kill, RestartAfter: *restart, MaxKills: *kills, PauseActive: *pause, RaftTimeout: *raftTimeout,
	}))
}
