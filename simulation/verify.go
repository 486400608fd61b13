package simulation

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
)

// Violation is one broken invariant of one identity; the report fills its
// history from the run's own.
type Violation struct {
	Invariant string // "I1".."I8" (../shared/FAULTS.md), "Q" for a run that did not settle
	ID        string // DE41 + DE11 + DE7, or "" for a cluster-wide one
	Detail    string
}

// verifyInput is everything a quiescent run hands to its check.
type verifyInput struct {
	History        []history.Event
	Admins         []*adminapi.Client // every node, all running
	Acquirer       *sim.Sim
	Faults         []Injected
	RegisterQueues int // entries still queued in registers at the end
}

// verify checks a quiescent run with the one checker that tillbench and the
// system tests use too (package check): every node read through its admin
// API, the acquirer's ledger read in process.
func verify(ctx context.Context, in verifyInput) ([]Violation, error) {
	cin, err := check.Collect(ctx, in.Admins, "") // "": acqsim runs in process
	if err != nil {
		return nil, err
	}
	if cin.Acquirer, err = ledgerRecords(in.Acquirer); err != nil {
		return nil, err
	}
	cin.SkipAcquirer = false
	cin.History, cin.RegisterQueues = in.History, in.RegisterQueues
	for _, f := range in.Faults {
		cin.Faults = append(cin.Faults, check.Fault{Kind: string(f.Kind), Target: f.where(), At: f.Start, End: f.End})
	}
	rep := check.Run(cin)
	out := make([]Violation, 0, len(rep.Violations))
	for _, v := range rep.Violations {
		d := v.Detail
		if len(v.Facts) > 0 {
			d += "\n      " + strings.Join(v.Facts, "\n      ")
		}
		out = append(out, Violation{Invariant: v.Invariant, ID: v.ID, Detail: d})
	}
	return out, nil
}

// ledgerRecords is the in-process acquirer's ledger in the checker's form
// (the JSON of acqsim's GET /ledger, which both share).
func ledgerRecords(s *sim.Sim) ([]check.AcqRecord, error) {
	recs, err := s.Ledger()
	if err != nil {
		return nil, fmt.Errorf("simulation: acquirer ledger: %w", err)
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return nil, fmt.Errorf("simulation: acquirer ledger: %w", err)
	}
	var out []check.AcqRecord
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("simulation: acquirer ledger: %w", err)
	}
	return out, nil
}
