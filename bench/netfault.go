package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tillgate/tillgate/internal/faultnet"
)

// faultLockName is the lock file (in the temp dir) that one run at a time
// holds while it injects faults: faultnet's chain and the tmpfs mounts are
// shared by every run on the machine, and a second run's Open would flush
// the first one's rules.
const faultLockName = "tillgate-faults.lock"

// faultEnv is what a run that injects faults holds: the lock, and the
// iptables chain.
type faultEnv struct {
	lock *os.File
	net  *faultnet.Net
}

// openFaults takes the lock (waiting for another run to finish, or ctx),
// unmounts what a killed run left mounted and opens faultnet (which
// flushes what a killed run left in the chain).
func openFaults(ctx context.Context) (*faultEnv, error) {
	if err := faultnet.Available(); err != nil {
		return nil, err
	}
	lock, err := lockFile(ctx, filepath.Join(os.TempDir(), faultLockName))
	if err != nil {
		return nil, err
	}
	fe := &faultEnv{lock: lock}
	if err := unmountStale(); err != nil {
		fe.Close()
		return nil, err
	}
	if fe.net, err = faultnet.Open(); err != nil {
		fe.Close()
		return nil, err
	}
	return fe, nil
}

// Close removes every rule and the chain, then releases the lock. Safe on
// a nil faultEnv.
func (fe *faultEnv) Close() error {
	if fe == nil {
		return nil
	}
	var err error
	if fe.net != nil {
		err = fe.net.Close()
	}
	if fe.lock != nil {
		err = errors.Join(err, fe.lock.Close()) // closing releases the flock
	}
	return err
}

// lockFile takes an exclusive flock on path, polling so that ctx can end
// the wait. The kernel releases it when the process dies, however.
func lockFile(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bench: fault lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("bench: fault lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("bench: waiting for another run's faults to end (%s): %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// port is the port of a host:port address (0 if it has none).
func port(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

func (p *procCluster) index(id string) int {
	for i, x := range p.ids {
		if x == id {
			return i
		}
	}
	return -1
}

func (p *procCluster) uid(id string) uint32 { return p.users[id].UID }

// peersOf are the other nodes.
func (p *procCluster) peersOf(id string) []string {
	var out []string
	for _, x := range p.ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// cuts builds the faultnet rules of the cluster's network faults. Raft
// runs over connections each node opens to its peers' Raft ports (its own
// RPCs: appends, votes) and receives answers on; a rule drops what a user
// sends to a port, so "a cannot reach b's Raft port" kills the connections
// a opens to b, in both directions of each.
type cuts struct{ p *procCluster }

func (p *procCluster) cuts() cuts { return cuts{p} }

// raftOut: id's own connections to its peers' Raft ports.
func (c cuts) raftOut(id string) []faultnet.Rule {
	var rules []faultnet.Rule
	for _, peer := range c.p.peersOf(id) {
		rules = append(rules, faultnet.Rule{UID: c.p.uid(id), Port: port(c.p.raft[c.p.index(peer)])})
	}
	return rules
}

// raftIn: every connection anyone else opens to id's Raft port.
func (c cuts) raftIn(id string) []faultnet.Rule {
	return []faultnet.Rule{{UID: c.p.uid(id), NotUID: true, Port: port(c.p.raft[c.p.index(id)])}}
}

// raftPair: the connections between a and b, both ways.
func (c cuts) raftPair(a, b string) []faultnet.Rule {
	return []faultnet.Rule{{UID: c.p.uid(a), Port: port(c.p.raft[c.p.index(b)])}, {UID: c.p.uid(b), Port: port(c.p.raft[c.p.index(a)])}}
}

// registersTo: this process's registers to id's register port. The
// standbys' relays (other users) still reach it.
func (c cuts) registersTo(id string) []faultnet.Rule {
	return []faultnet.Rule{{UID: uint32(os.Getuid()), Port: port(c.p.reg[c.p.index(id)])}}
}

// acquirerFrom: node id to the acquirer's port.
func (c cuts) acquirerFrom(id string) []faultnet.Rule {
	return []faultnet.Rule{{UID: c.p.uid(id), Port: port(c.p.acqAddr)}}
}
