package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// Seed prepares an empty Dir to start a new single-voter cluster from a
// state machine snapshot (a backup) taken at Raft index applied. It writes a
// Raft snapshot at that index whose configuration names only this node, so
// that the new log continues after the backup instead of starting again at
// 1 (which the state machine would skip as already applied). On Open, the
// state machine is restored from it and the node elects itself; further
// voters join with AddVoter and receive the snapshot.
func Seed(dir, id, addr string, applied uint64, state io.Reader) error {
	if applied == 0 {
		return fmt.Errorf("cluster: seed %s: the backup has applied nothing", dir)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("cluster: seed %s: the directory is not empty: seed only a new node", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cluster: seed %s: %w", dir, err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, snapshotsRetained, io.Discard)
	if err != nil {
		return fmt.Errorf("cluster: seed %s: %w", dir, err)
	}
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(addr)}}}
	// The transport only encodes peer addresses for old snapshot versions.
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	sink, err := snaps.Create(raft.SnapshotVersionMax, applied, 1, conf, applied, trans)
	if err != nil {
		return fmt.Errorf("cluster: seed %s: %w", dir, err)
	}
	if _, err := sink.Write(snapshotHeader(applied)); err != nil {
		sink.Cancel()
		return fmt.Errorf("cluster: seed %s: %w", dir, err)
	}
	if _, err := io.Copy(sink, state); err != nil {
		sink.Cancel()
		return fmt.Errorf("cluster: seed %s: %w", dir, err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("cluster: seed %s: %w", filepath.Join(dir, "snapshots"), err)
	}
	return nil
}
