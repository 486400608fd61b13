// Package faultnet cuts TCP traffic between processes on one Linux machine,
// for fault tests: each node runs as a user of its own, and iptables rules
// in a chain of this package drop what a user sends to a port (-m owner
// --uid-owner, --dport). Loopback stays the only network, tc netem is not
// needed (this kernel lacks it), and the rules touch nothing but the users
// and ports they name.
//
// It needs root and the iptables command (Debian: apt-get install
// iptables); Available says why not. Open removes whatever a killed run
// left in the chain, Heal empties it, Close removes it: a test defers Close
// and every rule goes with it, whichever way the test ends short of a
// SIGKILL, and the next Open cleans up after that too.
package faultnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
)

// Chain is the iptables chain holding every rule of this package; OUTPUT
// jumps to it.
const Chain = "TILLGATE-FAULTS"

// ErrUnavailable: not root, or no iptables.
var ErrUnavailable = errors.New("faultnet: unavailable")

// Available reports why faults cannot be injected here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (iptables and users of its own per node)", ErrUnavailable)
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("%w: no iptables command (Debian: apt-get install -y iptables)", ErrUnavailable)
	}
	return nil
}

// User is a system user a node process runs as, so that rules can match
// what it sends.
type User struct {
	Name     string
	UID, GID uint32
}

// EnsureUsers returns n users named prefix1..prefixN, creating the ones
// missing (system users without home or shell).
func EnsureUsers(prefix string, n int) ([]User, error) {
	out := make([]User, 0, n)
	for i := 1; i <= n; i++ {
		name := prefix + strconv.Itoa(i)
		u, err := user.Lookup(name)
		if err != nil {
			if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("faultnet: useradd %s: %w: %s", name, err, out)
			}
			if u, err = user.Lookup(name); err != nil {
				return nil, fmt.Errorf("faultnet: user %s: %w", name, err)
			}
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		out = append(out, User{Name: name, UID: uint32(uid), GID: uint32(gid)})
	}
	return out, nil
}

// Net is the chain of rules.
type Net struct {
	mu    sync.Mutex
	rules []Rule
}

// Rule drops TCP segments that a sender (a user, or anyone but a user)
// sends to a port.
type Rule struct {
	UID    uint32
	NotUID bool // anyone but UID
	Port   int
}

func (r Rule) String() string {
	who := "uid " + strconv.Itoa(int(r.UID))
	if r.NotUID {
		who = "anyone but " + who
	}
	return fmt.Sprintf("%s -> :%d dropped", who, r.Port)
}

func (r Rule) args() []string {
	a := []string{"-p", "tcp", "--dport", strconv.Itoa(r.Port), "-m", "owner"}
	if r.NotUID {
		a = append(a, "!")
	}
	return append(a, "--uid-owner", strconv.FormatUint(uint64(r.UID), 10), "-j", "DROP")
}

// Open creates the chain (emptied if a killed run left rules in it) and
// hooks it into OUTPUT.
func Open() (*Net, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if err := ipt("-N", Chain); err != nil && !strings.Contains(err.Error(), "exists") {
		return nil, err
	}
	if err := ipt("-F", Chain); err != nil {
		return nil, err
	}
	if ipt("-C", "OUTPUT", "-j", Chain) != nil {
		if err := ipt("-I", "OUTPUT", "1", "-j", Chain); err != nil {
			return nil, err
		}
	}
	return &Net{}, nil
}

// Drop adds rules.
func (n *Net) Drop(rules ...Rule) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range rules {
		if err := ipt(append([]string{"-A", Chain}, r.args()...)...); err != nil {
			return err
		}
		n.rules = append(n.rules, r)
	}
	return nil
}

// Rules lists the rules in force.
func (n *Net) Rules() []Rule {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Rule(nil), n.rules...)
}

// Heal removes every rule: traffic flows again.
func (n *Net) Heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rules = nil
	return ipt("-F", Chain)
}

// Close removes the rules and the chain.
func (n *Net) Close() error {
	err := n.Heal()
	return errors.Join(err, ipt("-D", "OUTPUT", "-j", Chain), ipt("-X", Chain))
}

func ipt(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("faultnet: iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
