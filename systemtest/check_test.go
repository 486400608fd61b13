package systemtest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
)

// The one checker (package check) judges every system test's run: the
// registers' history against every running node (admin API) and the
// acquirer simulator's ledger, after quiescence. A test adds only the
// assertions that are its own.

// judgeTimeout bounds the wait for quiescence and the reads.
const judgeTimeout = 2 * time.Minute

// judged is what a test hands to the checker besides the cluster.
type judged struct {
	history *history.Log
	// queues is the number of entries left in the registers' queues.
	queues int
	// ledger reads the acquirer simulator's ledger in process; nil when
	// acqsimAdmin is set.
	ledger      func() ([]check.AcqRecord, error)
	acqsimAdmin string
	// faults are those the test injected: the report names the ones that
	// overlap each violation's history.
	faults []check.Fault
}

// judge waits until the nodes are quiet (no INTENT open, no SAF entry
// owed, one applied index and hash: waited for, never slept), reads them
// and the acquirer, and fails the test with the checker's report on any
// violation. Every node in admins must be running: a node that cannot be
// read is a failure, not a node skipped.
func judge(t testing.TB, admins []*adminapi.Client, j judged) check.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), judgeTimeout)
	defer cancel()
	start := time.Now()
	if err := check.WaitQuiet(ctx, admins, 100*time.Millisecond); err != nil {
		t.Fatalf("the cluster did not become quiet: %v", err)
	}
	quiet := time.Since(start)
	in, err := check.Collect(ctx, admins, j.acqsimAdmin)
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	if j.ledger != nil {
		if in.Acquirer, err = j.ledger(); err != nil {
			t.Fatalf("acquirer ledger: %v", err)
		}
		in.SkipAcquirer = false
	}
	in.History, in.RegisterQueues, in.Faults = j.history.Events(), j.queues, j.faults
	read := time.Since(start)
	rep := check.Run(in)
	t.Logf("checker: quiet after %v, read after %v, judged after %v", quiet.Round(time.Millisecond), read.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if len(rep.Skipped) > 0 || !rep.OK() {
		t.Errorf("checker:\n%s", rep)
	} else {
		t.Log(rep.Summary())
	}
	return rep
}

// ledgerOf reads an in-process acquirer simulator's ledger as the checker
// takes it: the records of GET /ledger, in the same JSON shape.
func ledgerOf(s *sim.Sim) func() ([]check.AcqRecord, error) {
	return func() ([]check.AcqRecord, error) {
		recs, err := s.Ledger()
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(recs)
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		var out []check.AcqRecord
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		return out, nil
	}
}

// adminClients are clients of the given admin addresses.
func adminClients(addrs []string) []*adminapi.Client {
	out := make([]*adminapi.Client, len(addrs))
	for i, a := range addrs {
		out[i] = adminapi.NewClient(a)
	}
	return out
}
