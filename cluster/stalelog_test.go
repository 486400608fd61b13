package cluster

import (
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
)

// TestDropStaleLog: a log that ends before the latest snapshot (the node
// stopped between saving an installed snapshot and raft deleting the old
// log) is emptied, so the entries after the snapshot can follow; a log
// that reaches the snapshot is kept.
func TestDropStaleLog(t *testing.T) {
	cases := []struct {
		name        string
		last        uint64 // log 1..last
		first, want uint64 // after
	}{
		{"behind the snapshot", 50, 0, 0},
		{"reaches the snapshot", 100, 1, 100},
		{"beyond the snapshot", 120, 1, 120},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpenLogStore(t, dir+"/log", tinySegments)
			mustStore(t, s, 1, tc.last, 10)
			snaps, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			_, trans := raft.NewInmemTransport("a")
			sink, err := snaps.Create(raft.SnapshotVersionMax, 100, 1, raft.Configuration{}, 1, trans)
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			c := &Cluster{log: slog.New(slog.DiscardHandler), logStore: s}
			if err := c.dropStaleLog(snaps); err != nil {
				t.Fatal(err)
			}
			checkRange(t, s, tc.first, tc.want)
			next := max(tc.want, 100) + 1 // the leader continues after the snapshot
			mustStore(t, s, next, next, 1)
		})
	}
}
