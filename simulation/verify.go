package simulation

import (
	"context"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
)

// Violation is one broken invariant of one identity; the shape of
// check.Violation, whose History the report fills from the run's own.
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

// verify checks a quiescent run: the only place the simulation calls a
// checker, so that the per-identity checker (package check, stream C)
// replaces this body and nothing else. Until then it runs today's
// aggregate checks (aggregate.go). With check merged the body becomes:
//
//	cin, err := check.Collect(ctx, in.Admins, "") // "": acqsim runs in process
//	if err != nil {
//		return nil, err
//	}
//	cin.History, cin.RegisterQueues = in.History, in.RegisterQueues
//	cin.Faults = checkFaults(in.Faults)         // Kind, where(), Start, End
//	cin.Acquirer = ledgerRecords(in.Acquirer)  // (*sim.Sim).Ledger(), stream A
//	rep := check.Run(cin)
//	return violationsOf(rep.Violations), nil     // Invariant, ID, Detail
func verify(ctx context.Context, in verifyInput) ([]Violation, error) {
	return aggregateChecks(ctx, in)
}
