package node

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/store"
)

// RestoreBackup prepares cfg's empty data directory to start a new
// single-voter cluster from a backup (GET /backup): the backup becomes a Raft
// snapshot at its applied index, so the log continues after it. Start the
// node with bootstrap off, then add voters with empty data directories; they
// receive the state from it. See docs/backup-restore.md.
func RestoreBackup(cfg Config, backupPath string) error {
	applied, err := store.AppliedIndexOf(backupPath)
	if err != nil {
		return fmt.Errorf("node: restore: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, stateFile)); err == nil {
		return fmt.Errorf("node: restore: %s already holds a state: restore only into an empty data_dir", cfg.DataDir)
	}
	f, err := os.Open(backupPath)
	if err != nil {
		return fmt.Errorf("node: restore: %w", err)
	}
	defer f.Close()
	rc := cfg.clusterConfig()
	if err := cluster.Seed(rc.Dir, cfg.ID, cfg.RaftAddr, applied, f); err != nil {
		return fmt.Errorf("node: restore: %w", err)
	}
	return nil
}
