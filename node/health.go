package node

import (
	"context"
	"fmt"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/store"
)

// health is the node's own state: whether its state machine or Raft log
// failed, and the error that stopped it (Node.Err).
type health struct {
	store *store.Store
	raft  *cluster.Cluster
	errc  chan error
}

// Halted reports why this node must not act any more (its state machine
// or its Raft log failed), or nil. It stays up only until its supervisor
// (or the test) closes it; meanwhile it must not reach the acquirer, where
// whatever it did could never be recorded.
func (h *health) Halted() error {
	if err := h.store.Failure(); err != nil {
		return err
	}
	return h.raft.FailErr()
}

// Fail reports err on Node.Err, unless an error is there already.
func (h *health) Fail(err error) {
	select {
	case h.errc <- err:
	default:
	}
}

// watch fails the node when its Raft log store or its state machine fails,
// until ctx ends.
func (h *health) watch(ctx context.Context) {
	failed, stopped := h.raft.Failed(), h.store.Stopped()
	for {
		select {
		case <-ctx.Done():
			return
		case <-failed:
			failed = nil
			h.Fail(fmt.Errorf("node: raft log store failed, raft stopped: %w", h.raft.FailErr()))
		case <-stopped:
			stopped = nil
			h.Fail(fmt.Errorf("node: state machine stopped: %w", h.store.Failure()))
		}
	}
}
