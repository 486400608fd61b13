package main

import (
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
