package cluster

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

func TestApplyErrorMapping(t *testing.T) {
	storeErr := errors.New("disk on fire")
	cases := []struct {
		name  string
		err   error
		index uint64
		is    []error
		isNot []error
	}{
		{"not leader", raft.ErrNotLeader, 0, []error{ErrNotLeader}, []error{ErrOutcomeUnknown, ErrNotAppended}},
		{"transfer", raft.ErrLeadershipTransferInProgress, 0, []error{ErrNotLeader}, []error{ErrOutcomeUnknown}},
		{"enqueue timeout", raft.ErrEnqueueTimeout, 0, []error{ErrNotAppended}, []error{ErrOutcomeUnknown, ErrNotLeader}},
		{"shutdown before append", raft.ErrRaftShutdown, 0, []error{ErrNotAppended, ErrClosed}, []error{ErrOutcomeUnknown}},
		{"shutdown after append", raft.ErrRaftShutdown, 42, []error{ErrOutcomeUnknown, ErrClosed}, []error{ErrNotAppended}},
		{"leadership lost", raft.ErrLeadershipLost, 42, []error{ErrOutcomeUnknown, ErrLeadershipLost}, []error{ErrNotLeader, ErrNotAppended}},
		{"store error", storeErr, 42, []error{ErrOutcomeUnknown, storeErr}, []error{ErrNotLeader, ErrNotAppended}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := applyError(c.err, c.index)
			for _, e := range c.is {
				if !errors.Is(got, e) {
					t.Errorf("%v: want it to match %v", got, e)
				}
			}
			for _, e := range c.isNot {
				if errors.Is(got, e) {
					t.Errorf("%v: must not match %v", got, e)
				}
			}
		})
	}
}

func TestOpErrorMapping(t *testing.T) {
	other := errors.New("cannot find peer")
	cases := []struct {
		err, want error
	}{
		{raft.ErrNotLeader, ErrNotLeader},
		{raft.ErrLeadershipTransferInProgress, ErrNotLeader},
		{raft.ErrRaftShutdown, ErrClosed},
		{other, other},
	}
	for _, c := range cases {
		if got := opError(c.err, 0); !errors.Is(got, c.want) {
			t.Errorf("opError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
