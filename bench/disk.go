package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// tmpfsSource is the device name of the tmpfs mounts of this package, so
// that a run can find and unmount what a killed run left mounted.
const tmpfsSource = "tillbench-disk"

// fillName is the file that fills a node's tmpfs (disk full).
const fillName = "disk-full.fill"

// mountTmpfs mounts a tmpfs of p.disk bytes (a mount size: 512m) on dir:
// a disk of its own that a test can fill (FAULTS.md 11). A tmpfs makes
// fsync a no-op: these runs say nothing of durability on power loss.
func (p *procCluster) mountTmpfs(dir string) error {
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+p.disk+",mode=0700", tmpfsSource, dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench: mount a tmpfs on %s (needs root): %w: %s", dir, err, strings.TrimSpace(string(out)))
	}
	p.mounts = append(p.mounts, dir)
	return nil
}

// unmountAll unmounts every tmpfs of the cluster (lazily if busy).
func (p *procCluster) unmountAll() error {
	var errs []error
	for _, dir := range p.mounts {
		errs = append(errs, unmount(dir))
	}
	p.mounts = nil
	return errors.Join(errs...)
}

func unmount(dir string) error {
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
			return fmt.Errorf("bench: umount %s: %w: %s; %s", dir, err2, strings.TrimSpace(string(out)), strings.TrimSpace(string(out2)))
		}
	}
	return nil
}

// unmountStale unmounts the tmpfs mounts a killed run left (found by
// their device name). Only under the fault lock: no other run holds any.
func unmountStale() error {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return fmt.Errorf("bench: mounts: %w", err)
	}
	defer f.Close()
	var errs []error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 2 && fields[0] == tmpfsSource {
			errs = append(errs, unmount(fields[1]))
		}
	}
	return errors.Join(errs...)
}

// fillDisk fills node id's tmpfs to the last page: every write of the
// node then fails with ENOSPC.
func (p *procCluster) fillDisk(id string) error {
	f, err := os.OpenFile(filepath.Join(p.dir, id, fillName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("bench: fill the disk of %s: %w", id, err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					return fmt.Errorf("bench: fill the disk of %s: %w", id, err)
				}
				break
			}
		}
	}
	return nil
}

// clearDisk removes what fillDisk wrote.
func (p *procCluster) clearDisk(id string) error {
	if err := os.Remove(filepath.Join(p.dir, id, fillName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bench: clear the disk of %s: %w", id, err)
	}
	return nil
}

// armFailpoint creates failpoint name (cmd/tillgate failpoint.go:
// "state-eio", "raftlog-eio") for node id: while it exists the node's
// state commits or Raft log writes fail with EIO.
func (p *procCluster) armFailpoint(id, name string) error {
	if !p.failpoints {
		return errors.New("bench: this cluster's nodes have no failpoint directory")
	}
	if err := os.WriteFile(filepath.Join(p.failpointDir(id), name), nil, 0o644); err != nil {
		return fmt.Errorf("bench: arm %s on %s: %w", name, id, err)
	}
	return nil
}

// disarmFailpoint removes failpoint name of node id.
func (p *procCluster) disarmFailpoint(id, name string) error {
	if err := os.Remove(filepath.Join(p.failpointDir(id), name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bench: disarm %s on %s: %w", name, id, err)
	}
	return nil
}
