package node

import (
	"context"

	"github.com/tillgate/tillgate/node/businessday"
	"github.com/tillgate/tillgate/store"
)

// Failpoints of the business day's close, in order (Config.Failpoint).
const (
	FailpointCutover  = businessday.FailpointCutover  // the cutover is committed, nothing else done
	FailpointRendered = businessday.FailpointRendered // a file is rendered, its checksum not recorded
	FailpointRecorded = businessday.FailpointRecorded // its checksum is recorded, the file not written
)

// ErrDayNotOpen: a cutover named a day that is not the open one (someone
// cut over first).
var ErrDayNotOpen = businessday.ErrDayNotOpen

// Reconciled is one reconciliation's outcome, with the report as JSON and
// as text.
type Reconciled = businessday.Reconciled

// Cutover closes the open business day now, as an operator asks
// (businessday.Service.Cutover). Active only.
func (n *Node) Cutover(ctx context.Context, day string) (*store.Day, error) {
	return n.days.Cutover(ctx, day)
}

// Reconcile matches a settled day's file of acquirer against the
// acquirer's own (businessday.Service.Reconcile). Any node.
func (n *Node) Reconcile(ctx context.Context, day, acquirer string, acqFile []byte) (*Reconciled, error) {
	return n.days.Reconcile(ctx, day, acquirer, acqFile)
}

// RecordReconciliation records a reconciliation's outcome in the log.
// Active only.
func (n *Node) RecordReconciliation(ctx context.Context, day string, rec store.Reconciliation) error {
	return n.days.RecordReconciliation(ctx, day, rec)
}
