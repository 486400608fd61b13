package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/store"
)

// AddTerminals registers ranges of terminals in one command, as the admin
// API's POST /terminals does: for the demo and the in-process clusters of
// the tests, which start with an empty registry. Active only.
func (n *Node) AddTerminals(ctx context.Context, ranges ...store.TerminalRange) (store.TerminalChange, error) {
	return n.terminalCommand(ctx, store.TerminalsAddCmd(time.Now().UnixNano(), ranges...))
}

// BlockTerminals blocks (or unblocks) the registered terminals of r.
// Active only.
func (n *Node) BlockTerminals(ctx context.Context, r store.TerminalRange, blocked bool) (store.TerminalChange, error) {
	return n.terminalCommand(ctx, store.TerminalsBlockCmd(r, blocked, time.Now().UnixNano()))
}

func (n *Node) terminalCommand(ctx context.Context, cmd []byte) (store.TerminalChange, error) {
	if n.raft == nil {
		return store.TerminalChange{}, errors.New("node: not started")
	}
	res, err := n.raft.Apply(ctx, cmd)
	if err != nil {
		return store.TerminalChange{}, fmt.Errorf("node: terminals: %w", err)
	}
	r, ok := res.(store.Result)
	switch {
	case !ok:
		return store.TerminalChange{}, fmt.Errorf("node: terminals: unexpected result %T", res)
	case r.Err != nil:
		return store.TerminalChange{}, fmt.Errorf("node: terminals: %w", r.Err)
	case r.Terminals == nil:
		return store.TerminalChange{}, errors.New("node: terminals: the state machine answered nothing")
	}
	return *r.Terminals, nil
}
