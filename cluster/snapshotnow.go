package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// ErrNothingToSnapshot: Snapshot found no entry applied since the last
// snapshot; that snapshot already covers the whole state.
var ErrNothingToSnapshot = errors.New("nothing new to snapshot")

// Snapshot makes raft take a snapshot of the state machine now and compact
// the log behind it, as it does on its own every SnapshotThreshold entries.
// Any node can snapshot, leader or not. It returns when the snapshot is
// written (Status().LastSnapshotIndex then names it), or ErrNothingToSnapshot.
func (c *Cluster) Snapshot(ctx context.Context) error {
	return c.do(ctx, "snapshot", func(time.Duration) raft.Future {
		return snapshotFuture{c.raft.Snapshot()}
	})
}

// snapshotFuture maps raft's "nothing new" to ours before opError sees it.
type snapshotFuture struct{ raft.SnapshotFuture }

func (f snapshotFuture) Error() error {
	err := f.SnapshotFuture.Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return ErrNothingToSnapshot
	}
	return err
}
