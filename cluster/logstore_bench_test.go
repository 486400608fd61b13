package cluster

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// BenchmarkStoreLogs: one op is one StoreLogs of a batch of 300-byte
// entries, fsync on, for the segment store and for raft-boltdb (what it
// replaces). Run: go test -run '^$' -bench StoreLogs ./cluster
func BenchmarkStoreLogs(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B, dir string) raft.LogStore
	}{
		{"segments", func(b *testing.B, dir string) raft.LogStore { return mustOpenLogStore(b, dir, 0) }},
		{"raft-boltdb", openBolt},
	}
	for _, st := range stores {
		for _, batch := range []int{64, 512} {
			b.Run(fmt.Sprintf("%s/batch=%d", st.name, batch), func(b *testing.B) {
				benchStoreLogs(b, st.open(b, b.TempDir()), batch)
			})
		}
	}
}

func openBolt(b *testing.B, dir string) raft.LogStore {
	s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchStoreLogs(b *testing.B, s raft.LogStore, batch int) {
	data := bytes.Repeat([]byte("x"), 300)
	logs := make([]*raft.Log, batch)
	for i := range logs {
		logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data}
	}
	next := uint64(1)
	b.SetBytes(int64(batch * len(data)))
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		for _, l := range logs {
			l.Index, l.AppendedAt = next, now
			next++
		}
		if err := s.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
}
