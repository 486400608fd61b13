package cluster

import "testing"

func TestLeadershipFeedKeepsOnlyTheLatest(t *testing.T) {
	f := newLeadershipFeed()
	states := []Leadership{
		{Term: 1},
		{Term: 2, LeaderID: "n2", LeaderAddr: "b:1"},
		{IsLeader: true, Term: 3, LeaderID: "n1", LeaderAddr: "a:1"},
	}
	for _, s := range states {
		f.publish(s) // nobody reads: must not block
	}
	if got := <-f.ch; got != states[2] {
		t.Fatalf("got %+v, want the latest %+v", got, states[2])
	}
	f.publish(states[2]) // unchanged: nothing new to read
	select {
	case got := <-f.ch:
		t.Fatalf("unchanged state published again: %+v", got)
	default:
	}
	f.publish(states[0])
	if got := <-f.ch; got != states[0] {
		t.Fatalf("got %+v, want %+v", got, states[0])
	}
}
