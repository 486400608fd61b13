package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Apply appends cmd to the log, waits until it is committed and applied on
// this node, and returns the StateMachine's result for it. Only the leader
// accepts commands. Concurrent calls are group-committed: one append and
// one fsync for up to MaxAppendEntries commands.
//
// ctx bounds the whole call; without a deadline, ApplyTimeout does. Errors
// (see the error block for what each means to the caller):
//
//   - ErrNotLeader: raft refused it before appending (not leader, stepping
//     down, or a leadership transfer in progress).
//   - ErrNotAppended: Raft is shut down (with ErrClosed), the context ended
//     before the call started, or raft's queue stayed full until the
//     deadline (raft.ErrEnqueueTimeout is only returned when the command
//     could not even be queued).
//   - ErrOutcomeUnknown: everything after the command was queued: leadership
//     lost in flight (with ErrLeadershipLost), the context ended or Close
//     ran while waiting (the command may still sit in raft's queue and be
//     appended later), raft shutting down after the append, a log store
//     write error.
func (c *Cluster) Apply(ctx context.Context, cmd []byte) (any, error) {
	ctx, cancel, timeout, err := c.bound(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: apply: %w: %w", ErrNotAppended, err)
	}
	defer cancel()
	f := c.raft.Apply(cmd, timeout)
	if err := c.await(ctx, f, applyError); err != nil {
		return nil, fmt.Errorf("cluster: apply: %w", err)
	}
	return f.Response(), nil
}

// Barrier waits until every entry appended before it is applied to the
// state machine. A new leader calls it before serving: after it returns
// nil, the state machine holds everything earlier leaders committed.
// Leader only (ErrNotLeader otherwise).
func (c *Cluster) Barrier(ctx context.Context) error {
	return c.do(ctx, "barrier", func(timeout time.Duration) raft.Future {
		return c.raft.Barrier(timeout)
	})
}

// AddVoter adds a server (or updates its address) as a voter. raft first
// adds it as a non-voting staging server and promotes it once it has
// caught up. Leader only. Returns when the change is committed.
func (c *Cluster) AddVoter(ctx context.Context, id, addr string) error {
	return c.do(ctx, "add voter "+id, func(timeout time.Duration) raft.Future {
		return c.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	})
}

// RemoveServer removes a server from the configuration. Removing the
// leader itself makes the rest elect a new one. A removed node shuts its
// Raft down once it learns of the removal. Leader only.
func (c *Cluster) RemoveServer(ctx context.Context, id string) error {
	return c.do(ctx, "remove server "+id, func(timeout time.Duration) raft.Future {
		return c.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	})
}

// TransferLeadership hands leadership to the most up-to-date other voter
// and returns once it has taken over (or raft gave up, after about an
// election timeout). Leader only.
func (c *Cluster) TransferLeadership(ctx context.Context) error {
	return c.do(ctx, "transfer leadership", func(time.Duration) raft.Future {
		return c.raft.LeadershipTransfer()
	})
}

// do runs one raft operation under ctx.
func (c *Cluster) do(ctx context.Context, op string, start func(timeout time.Duration) raft.Future) error {
	ctx, cancel, timeout, err := c.bound(ctx)
	if err != nil {
		return fmt.Errorf("cluster: %s: %w: %w", op, ErrNotAppended, err)
	}
	defer cancel()
	if err := c.await(ctx, start(timeout), opError); err != nil {
		return fmt.Errorf("cluster: %s: %w", op, err)
	}
	return nil
}

// bound checks that the call can start and gives the context its deadline
// (ApplyTimeout when it has none) and the time left, which is what raft
// waits at most to queue the request.
func (c *Cluster) bound(ctx context.Context) (context.Context, context.CancelFunc, time.Duration, error) {
	select {
	case <-c.closed:
		return nil, nil, 0, ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, 0, err
	}
	d, ok := ctx.Deadline()
	if !ok {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
		return ctx, cancel, c.cfg.ApplyTimeout, nil
	}
	left := time.Until(d)
	if left <= 0 {
		// raft reads a zero timeout as "wait forever".
		return nil, nil, 0, context.DeadlineExceeded
	}
	return ctx, func() {}, left, nil
}

// await waits for raft's answer, the context or Close, and returns raft's
// error mapped by mapErr. Raft's futures cannot be selected on, so a
// goroutine waits on f.Error(); it ends when raft answers, which it does
// for everything except an entry still queued when raft shuts down (then
// the goroutine stays, blocked, for the life of the process: only after
// Close).
func (c *Cluster) await(ctx context.Context, f raft.Future, mapErr func(error, uint64) error) error {
	answer := make(chan error, 1)
	go func() { answer <- f.Error() }()
	select {
	case err := <-answer:
		if err == nil {
			return nil
		}
		return mapErr(err, indexOf(f))
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	case <-c.closed:
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrClosed)
	}
}

// indexOf is the log index raft gave the request: 0 if it never reached
// the leader's append (raft assigns the index in dispatchLogs, just before
// writing the entry). Only valid once f.Error has returned.
func indexOf(f raft.Future) uint64 {
	if x, ok := f.(raft.IndexFuture); ok {
		return x.Index()
	}
	return 0
}

// applyError maps raft's answer to an Apply to ours. Checked in raft v1.7.3's source:
// ErrNotLeader and ErrLeadershipTransferInProgress are answered from the
// apply queue before an index is assigned; ErrEnqueueTimeout and an
// ErrRaftShutdown with index 0 before the request was queued or appended.
// ErrLeadershipLost is answered for entries in flight on a leader that
// stepped down; they may still commit under the next one.
func applyError(err error, index uint64) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: leadership transfer in progress", ErrNotLeader)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: raft's queue stayed full until the deadline", ErrNotAppended)
	case errors.Is(err, raft.ErrRaftShutdown) && index == 0:
		return fmt.Errorf("%w: %w", ErrNotAppended, ErrClosed)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrClosed)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ErrLeadershipLost)
	default:
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
}

// opError maps raft's answer to Barrier and the membership calls: their
// callers only need to know "go to the leader" and "closed".
func opError(err error, _ uint64) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: leadership transfer in progress", ErrNotLeader)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	default:
		return err
	}
}
