package simulation

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
)

// Files of a run, kept as artifacts when it fails.
const (
	historyFile    = "history.jsonl"
	nodesLog       = "nodes.log" // nodes, registers and the acquirer simulator (log/slog)
	faultsFile     = "faults.txt"
	violationsFile = "violations.txt"
	// acqLedger is the acquirer simulator's ledger (`acqsim totals --data
	// DIR` reads it): what the acquirer booked, per identity.
	acqLedger = acqsimDir + "/" + sim.LedgerFile
	// txnsFile holds, per node, every transaction as GET /txns gives it
	// (JSON lines), read once the run settled.
	txnsFile = "txns-%s.jsonl"
)

// shownViolations bounds the violations printed with their histories; the
// artifacts hold all of them.
const shownViolations = 10

// Summary adds up the seeds of one RunSeeds.
type Summary struct {
	Seeds, Faults, Transactions, Violations int
	Failed                                  []uint64 // seeds whose run failed (Err), not counting violations
}

func (s Summary) String() string {
	return fmt.Sprintf("sim: %d seeds, %d faults, %d transactions, %d violations", s.Seeds, s.Faults, s.Transactions, s.Violations)
}

// RunSeeds runs cfg's seeds one after another and writes a line per seed,
// each failing seed's details, and last the summary line.
func RunSeeds(ctx context.Context, cfg Config, w io.Writer) Summary {
	var sum Summary
	for _, seed := range cfg.Seeds {
		if ctx.Err() != nil {
			break
		}
		res := RunSeed(ctx, cfg, seed)
		sum.Seeds++
		sum.Faults += res.injectedCount()
		sum.Transactions += res.Transactions
		sum.Violations += len(res.Violations)
		if res.Err != nil {
			sum.Failed = append(sum.Failed, seed)
		}
		writeSeed(w, cfg, &res)
	}
	fmt.Fprintln(w, sum)
	return sum
}

// writeSeed writes the seed's line and, when it failed, its details.
func writeSeed(w io.Writer, cfg Config, r *SeedResult) {
	fmt.Fprintf(w, "seed %d: %.1fs, %d transactions, %d faults, %d violations (%d registers; %v)\n",
		r.Seed, r.Elapsed.Seconds(), r.Transactions, r.injectedCount(), len(r.Violations), r.Registers, r.Batches)
	for _, f := range r.NodeFailures {
		fmt.Fprintf(w, "  node stopped by its own error: %s\n", f)
	}
	for _, f := range r.Batches.Failed {
		fmt.Fprintf(w, "  batch not closed: %s\n", f)
	}
	if r.Err != nil {
		fmt.Fprintf(w, "  run failed: %v\n", r.Err)
	}
	if len(r.Violations) == 0 && r.Err == nil {
		return
	}
	fmt.Fprintf(w, "  replay: %s\n  artifacts: %s\n", replay(cfg, r), r.Artifacts)
	fmt.Fprint(w, indent(faultSchedule(r), "  "))
	for i, v := range r.Violations {
		if i == shownViolations {
			fmt.Fprintf(w, "  ... %d more in %s\n", len(r.Violations)-i, filepath.Join(r.Artifacts, violationsFile))
			break
		}
		fmt.Fprint(w, indent(violationText(r, v), "  "))
	}
}

// faultSchedule lists the seed's faults as injected.
func faultSchedule(r *SeedResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "fault schedule (seed %d, load %v, offsets from the load's start):\n", r.Seed, r.Load)
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "  %s\n", f.line(r.start))
	}
	return b.String()
}

// violationText is a violation and the history of its identity.
func violationText(r *SeedResult, v Violation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s\n", v.Invariant, v.ID, v.Detail)
	for _, e := range identityHistory(r.history, v.ID) {
		fmt.Fprintf(&b, "  %s\n", eventLine(e, r.start))
	}
	return b.String()
}

// identityHistory is every event of id: its requests, the entries queued
// for it, and the messages naming it in DE90.
func identityHistory(events []history.Event, id string) []history.Event {
	if id == "" {
		return nil
	}
	var out []history.Event
	for _, e := range events {
		if e.ID == id || e.Of == id || e.OriginalID() == id {
			out = append(out, e)
		}
	}
	// A request is recorded when it returns, after what its client
	// queued meanwhile: order by when each began.
	slices.SortStableFunc(out, func(a, b history.Event) int { return cmp.Compare(a.Invoke, b.Invoke) })
	return out
}

func eventLine(e history.Event, start time.Time) string {
	at := time.Unix(0, e.Invoke).Sub(start).Seconds()
	s := fmt.Sprintf("%+8.3fs %-7s %s %s", at, e.Kind, e.MTI, e.ID)
	if e.ProcCode != "" || e.Amount != 0 {
		s += fmt.Sprintf(" de3 %s de4 %d", e.ProcCode, e.Amount)
	}
	if e.Original != "" {
		s += " de90 " + e.Original[:min(20, len(e.Original))]
	}
	if e.Of != "" && e.Of != e.ID {
		s += " of " + e.Of
	}
	switch e.Kind {
	case history.Request:
		s += fmt.Sprintf(" -> %s (%.3fs)", e.Outcome, time.Duration(e.Return-e.Invoke).Seconds())
		if e.Outcome == history.Answered {
			s += fmt.Sprintf(" rc %s auth %q rrn %s node %s", e.RC, e.AuthCode, e.RRN, e.Node)
		}
	case history.Acked:
		s += " rc " + e.RC
	}
	return s
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// keepArtifacts copies the run's history and logs out of dir, which is
// about to be removed, with the schedule and the violations beside them.
func keepArtifacts(root, dir string, r *SeedResult) (string, error) {
	dst := filepath.Join(root, fmt.Sprintf("seed-%d-%s", r.Seed, time.Now().Format("20060102-150405")))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", fmt.Errorf("simulation: artifacts: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(acqLedger)), 0o755); err != nil {
		return "", fmt.Errorf("simulation: artifacts: %w", err)
	}
	dumps, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf(txnsFile, "*")))
	for _, name := range []string{historyFile, nodesLog, acqLedger} {
		dumps = append(dumps, filepath.Join(dir, name))
	}
	for _, src := range dumps {
		rel, _ := filepath.Rel(dir, src)
		if err := copyFile(src, filepath.Join(dst, rel)); err != nil {
			return dst, fmt.Errorf("simulation: artifacts: %w", err)
		}
	}
	var vs strings.Builder
	for _, v := range r.Violations {
		vs.WriteString(violationText(r, v))
	}
	if err := os.WriteFile(filepath.Join(dst, violationsFile), []byte(vs.String()), 0o644); err != nil {
		return dst, fmt.Errorf("simulation: artifacts: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dst, faultsFile), []byte(faultSchedule(r)), 0o644); err != nil {
		return dst, fmt.Errorf("simulation: artifacts: %w", err)
	}
	return dst, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dumpTxns writes every node's transactions into dir, for the artifacts of
// a failing seed: with the acquirer's ledger they tell what each side
// booked per identity (adminapi.Txn's acquirer_stan and acquirer_time).
func dumpTxns(ctx context.Context, dir string, e *env) error {
	for i, a := range e.admins {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf(txnsFile, e.nodeID(i))))
		if err != nil {
			return fmt.Errorf("simulation: %w", err)
		}
		err = writeTxns(ctx, a, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("simulation: transactions of %s: %w", e.nodeID(i), err)
		}
	}
	return nil
}

func writeTxns(ctx context.Context, a *adminapi.Client, w io.Writer) error {
	enc := json.NewEncoder(w)
	for q := (adminapi.TxnQuery{Limit: 1000}); ; {
		p, err := a.Txns(ctx, q)
		if err != nil {
			return err
		}
		for _, t := range p.Txns {
			if err := enc.Encode(t); err != nil {
				return err
			}
		}
		if p.NextCursor == "" {
			return nil
		}
		q.Cursor = p.NextCursor
	}
}
