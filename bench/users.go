package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tillgate/tillgate/internal/faultnet"
)

// nodeUserPrefix names the users the nodes of a local run run as
// (tgnode1..N): iptables can only tell the nodes' traffic apart on one
// loopback by the user that sends it (faultnet).
const nodeUserPrefix = "tgnode"

// runAsUsers makes every node run as a user of its own: the users exist,
// the work dir and the tillgate binary are reachable by them, and each
// node's config, card key and data dir are its own. Called before the
// configs are written.
func (p *procCluster) runAsUsers() error {
	users, err := faultnet.EnsureUsers(nodeUserPrefix, len(p.ids))
	if err != nil {
		return fmt.Errorf("bench: users for the nodes: %w", err)
	}
	// The dir holds the nodes' configs and data dirs: they must reach it
	// (and only traverse it: what is in it is each node's own).
	if err := os.Chmod(p.dir, 0o755); err != nil {
		return fmt.Errorf("bench: work dir: %w", err)
	}
	if err := reachable(p.dir); err != nil {
		return fmt.Errorf("bench: the nodes' users cannot reach the work dir (give --dir under /tmp): %w", err)
	}
	if p.tillgate, err = reachableBinary(p.tillgate, p.dir); err != nil {
		return err
	}
	p.users = map[string]faultnet.User{}
	for i, id := range p.ids {
		p.users[id] = users[i]
	}
	return nil
}

// reachable checks that every directory from / down to dir lets others
// through (o+x): the nodes' users own none of them.
func reachable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := abs; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by others (mode %s)", d, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// reachableBinary returns bin if the nodes' users can run it where it is,
// else a copy in dir/bin (a binary under /root, say).
func reachableBinary(bin, dir string) (string, error) {
	if st, err := os.Stat(bin); err == nil && st.Mode().Perm()&0o001 != 0 && reachable(filepath.Dir(bin)) == nil {
		return bin, nil
	}
	dst := filepath.Join(dir, "bin", "tillgate-nodes")
	if err := copyFile(bin, dst, 0o755); err != nil {
		return "", fmt.Errorf("bench: a tillgate binary the nodes' users can run: %w", err)
	}
	return dst, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// own gives path to node id's user (a no-op when the nodes run as this
// process's user).
func (p *procCluster) own(id, path string) error {
	u, ok := p.users[id]
	if !ok {
		return nil
	}
	if err := os.Chown(path, int(u.UID), int(u.GID)); err != nil {
		return fmt.Errorf("bench: give %s to %s: %w", path, u.Name, err)
	}
	return nil
}

// credential is what node id runs as: nil for this process's user.
func (p *procCluster) credential(id string) *syscall.Credential {
	u, ok := p.users[id]
	if !ok {
		return nil
	}
	return &syscall.Credential{Uid: u.UID, Gid: u.GID}
}
