package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// envFailpointDir names a directory of armed failpoints for fault tests:
// a file named after a node failpoint (node.FailpointCutover, ...) arms
// it. The first process to reach an armed point removes the file and
// SIGKILLs itself, so across a cluster sharing the directory each point
// fires once: the next active carries on past it.
const envFailpointDir = "TILLGATE_FAILPOINT_DIR"

func failpointsIn(dir string) func(string) {
	if dir == "" {
		return nil
	}
	return func(name string) {
		if os.Remove(filepath.Join(dir, name)) == nil {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

// Failpoints that inject a disk error instead of a kill: while a file of
// that name is in the failpoint directory, every commit of the state file
// (failStateEIO) or every write of the Raft log (failRaftLogEIO) fails with
// EIO. The node stops serving (fail-stop); removing the file and
// restarting the node lets it recover from its peers.
const (
	failStateEIO   = "state-eio"
	failRaftLogEIO = "raftlog-eio"
)

// eioWhile returns a hook that fails with EIO while dir/name exists; nil
// when dir is empty (no fault tests).
func eioWhile(dir, name string) func() error {
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, name)
	return func() error {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("failpoint %s: %w", name, syscall.EIO)
		}
		return nil
	}
}
