package bench

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tillgate/tillgate/internal/faultnet"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/loadtest"
	"github.com/tillgate/tillgate/node/adminapi"
)

// procCluster is a cluster of `tillgate serve` processes and one `acqsim
// serve`, in a directory of their own, on free loopback ports.
type procCluster struct {
	dir, tillgate, acqsim string
	raftTimeout           time.Duration
	log                   *slog.Logger

	ids             []string
	reg, raft, adm  []string
	acqAddr, acqAdm string

	// users are the users the nodes run as, by node id (users.go); nil:
	// this process's user.
	users map[string]faultnet.User
	// disk is the size of a tmpfs mounted as each node's data dir ("":
	// none; disk.go); failpoints gives each node a failpoint directory
	// of its own (TILLGATE_FAILPOINT_DIR).
	disk       string
	failpoints bool
	mounts     []string
	nodeLog    string // the nodes' --log-level
	// certs are the TLS files of a run with LocalOptions.TLS; nil: plain.
	certs *pki.Files
	// adminTLS, if set, is how the nodes' admin APIs (HTTPS) are
	// verified; nil: plain HTTP.
	adminTLS *tls.Config

	mu    sync.Mutex
	procs map[string]*proc // by node id, and "acqsim"
}

// proc is one running process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

// adminClient is a client of node i's admin API.
func (p *procCluster) adminClient(i int) *adminapi.Client {
	if p.adminTLS != nil {
		return adminapi.NewTLSClient(p.adm[i], p.adminTLS)
	}
	return adminapi.NewClient(p.adm[i])
}

// startProcCluster writes the configs and starts acqsim and n nodes.
func startProcCluster(ctx context.Context, o *LocalOptions) (*procCluster, error) {
	addrs, err := freePorts(3*o.Nodes + 2)
	if err != nil {
		return nil, err
	}
	p := &procCluster{dir: o.Dir, tillgate: o.TillgateBin, acqsim: o.AcqsimBin, raftTimeout: o.RaftTimeout, log: o.Load.Logger,
		disk: o.needs.disk, failpoints: o.needs.failpoints, nodeLog: cmp.Or(o.NodeLogLevel, "warn"), procs: map[string]*proc{}}
	for i := range o.Nodes {
		p.ids = append(p.ids, fmt.Sprintf("node%d", i+1))
	}
	n := o.Nodes
	p.reg, p.raft, p.adm = addrs[0:n], addrs[n:2*n], addrs[2*n:3*n]
	p.acqAddr, p.acqAdm = addrs[3*n], addrs[3*n+1]
	if o.asUsers {
		if err := p.runAsUsers(); err != nil && o.netFaults {
			return nil, err
		} else if err != nil {
			// Nothing needs the users: run as this user, and say why.
			o.progressf("nodes run as this process's user: %v", err)
			p.users, o.asUsers = nil, false
		}
	}
	if o.TLS {
		// acqsim's certificate too: every link is TLS.
		if p.certs, err = pki.WriteCluster(filepath.Join(p.dir, "tls"), loadtest.Store, append(slices.Clone(p.ids), "acqsim")); err != nil {
			return nil, fmt.Errorf("bench: certificates: %w", err)
		}
		if p.adminTLS, err = adminapi.TLSConfig(p.certs.CA); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	if err := p.startAcqsim(o.AcqsimLatency); err != nil {
		return nil, err
	}
	if err := p.prepareNodes(ctx); err != nil {
		p.stopAll()
		return nil, err
	}
	for _, id := range p.ids {
		if err := p.start(id); err != nil {
			p.stopAll()
			return nil, err
		}
	}
	if err := p.waitReady(ctx, o.ReadyTimeout); err != nil {
		p.stopAll()
		return nil, err
	}
	if v, err := p.upgradeSchema(ctx); err != nil {
		p.stopAll()
		return nil, err
	} else if v != "" {
		o.progressf("state schema upgraded to %s (tillctl schema upgrade)", v)
	}
	return p, nil
}

// upgradeSchema moves the new cluster's state to the newest layout its
// binary knows, as `tillctl schema upgrade` does after a new install: a
// run measures the layout a cluster set up today should run, not the one a
// new state file starts in for the sake of clusters upgraded in place.
func (p *procCluster) upgradeSchema(ctx context.Context) (string, error) {
	id, err := p.leader(ctx)
	if err != nil {
		return "", err
	}
	c := p.adminClient(slices.Index(p.ids, id))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := c.Schema(ctx)
	if err != nil || len(s.Known) == 0 {
		return "", fmt.Errorf("bench: read %s's schema: %v", id, cmp.Or[any](err, "no known versions"))
	}
	newest := s.Known[len(s.Known)-1]
	if s.Current == newest {
		return "", nil
	}
	if _, err := c.UpgradeSchema(ctx, newest); err != nil {
		return "", fmt.Errorf("bench: upgrade the schema to %s on %s: %w", newest, id, err)
	}
	return newest, nil
}

// Host echoes of the strict acqsim: often enough that a short run sees
// several on every connection (its defaults, 30 s and 10 s, suit a real
// host's pace, not a 20 s run).
const (
	acqsimEchoEvery   = 3 * time.Second
	acqsimEchoTimeout = 2 * time.Second
)

// startAcqsim runs acqsim as strictly as a real host (--strict): a
// duplicate transmission is answered 94, a reversal of an unknown original
// 25, and a link that leaves the host's own echo unanswered is closed.
func (p *procCluster) startAcqsim(latency string) error {
	args := []string{"serve", "--listen", p.acqAddr, "--admin", p.acqAdm,
		"--data", filepath.Join(p.dir, "acqsim"), "--latency", latency, "--log-level", "warn",
		"--strict", "--echo-every", acqsimEchoEvery.String(), "--echo-timeout", acqsimEchoTimeout.String(),
		// Faults kill processes, never the machine: the page cache keeps
		// acqsim's ledger, and its fsyncs were CPU the cluster lost.
		"--sync=false"}
	if p.certs != nil {
		// The nodes' links to it over TLS, a node certificate required.
		a := p.certs.Nodes["acqsim"]
		args = append(args, "--tls-cert", a.Cert, "--tls-key", a.Key, "--tls-client-ca", p.certs.CA)
	}
	var env []string // nil: this process's
	if os.Getenv("GOMAXPROCS") == "" {
		// One P: acqsim needs well under a core, and a second one spent
		// CPU spinning between its many short wake-ups, CPU the cluster
		// beside it lost.
		env = append(os.Environ(), "GOMAXPROCS=1")
	}
	return p.spawnAs("acqsim", nil, env, p.acqsim, args...)
}

// atRest are the cluster's own files: every node's data dir and log, to
// be scanned for card data at rest (I8). Not acqsim's: it is the
// acquirer, whose ledger may hold what a host holds.
func (p *procCluster) atRest() []string {
	var out []string
	for _, id := range p.ids {
		out = append(out, filepath.Join(p.dir, id), filepath.Join(p.dir, id+".log"))
	}
	return out
}

// prepareNodes makes each node's data dir (a tmpfs of its own with
// disk), failpoint dir and config.
func (p *procCluster) prepareNodes(ctx context.Context) error {
	for _, id := range p.ids {
		if err := p.makeDataDir(id); err != nil {
			return err
		}
		if p.failpoints {
			if err := os.MkdirAll(p.failpointDir(id), 0o755); err != nil {
				return fmt.Errorf("bench: failpoints of %s: %w", id, err)
			}
		}
	}
	return p.writeConfigs(ctx)
}

// makeDataDir creates node id's data dir, owned by its user: on a tmpfs
// of its own with disk (disk.go), so that a test can fill it up.
func (p *procCluster) makeDataDir(id string) error {
	dir := filepath.Join(p.dir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bench: data dir of %s: %w", id, err)
	}
	if p.disk != "" {
		if err := p.mountTmpfs(dir); err != nil {
			return err
		}
	}
	return p.own(id, dir)
}

// failpointDir is node id's TILLGATE_FAILPOINT_DIR.
func (p *procCluster) failpointDir(id string) string {
	return filepath.Join(p.dir, id+".failpoints")
}

// writeConfigs creates the card key (tillgate keygen) and one JSON config
// per node; each node reads its own copy of the key, which its user owns.
func (p *procCluster) writeConfigs(ctx context.Context) error {
	key := filepath.Join(p.dir, "card.key")
	if out, err := exec.CommandContext(ctx, p.tillgate, "keygen", key).CombinedOutput(); err != nil {
		return fmt.Errorf("bench: tillgate keygen: %w: %s", err, out)
	}
	var peers []map[string]string
	for i, id := range p.ids {
		peers = append(peers, map[string]string{"id": id, "raft_addr": p.raft[i], "register_addr": p.reg[i], "admin_addr": p.adm[i]})
	}
	for i, id := range p.ids {
		nodeKey := filepath.Join(p.dir, id+".key")
		if err := copyFile(key, nodeKey, 0o600); err != nil {
			return fmt.Errorf("bench: card key of %s: %w", id, err)
		}
		if err := p.own(id, nodeKey); err != nil {
			return err
		}
		cfg := map[string]any{
			"id": id, "data_dir": filepath.Join(p.dir, id), "register_addr": p.reg[i], "raft_addr": p.raft[i],
			"admin_addr": p.adm[i], "bootstrap": true, "peers": peers, "card_key_file": nodeKey,
			"acquirer": map[string]any{"addr": p.acqAddr},
			// The whole simulated fleet connects from one loopback address.
			"max_conns_per_ip": -1,
		}
		raft := map[string]any{}
		if d := p.raftTimeout; d > 0 {
			raft = map[string]any{"heartbeat_timeout": d.String(), "election_timeout": d.String(),
				"leader_lease_timeout": min(d, 500*time.Millisecond).String()}
		}
		if err := p.tlsConfig(id, cfg, raft); err != nil {
			return err
		}
		if len(raft) > 0 {
			cfg["raft"] = raft
		}
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return fmt.Errorf("bench: config of %s: %w", id, err)
		}
		cfgPath := filepath.Join(p.dir, id+".json")
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			return fmt.Errorf("bench: config of %s: %w", id, err)
		}
		if err := p.own(id, cfgPath); err != nil {
			return err
		}
	}
	return nil
}

// tlsConfig makes every link of node id TLS: its register port (a
// register certificate required), Raft (mutual), its link to acqsim (a
// client certificate) and its admin API (HTTPS), with its certificate and
// key, owned by its user.
func (p *procCluster) tlsConfig(id string, cfg, raft map[string]any) error {
	if p.certs == nil {
		return nil
	}
	nf := p.certs.Nodes[id]
	for _, f := range []string{nf.Cert, nf.Key} {
		if err := p.own(id, f); err != nil {
			return err
		}
	}
	mutual := map[string]string{"ca_file": p.certs.CA, "cert_file": nf.Cert, "key_file": nf.Key}
	cfg["register_tls"] = map[string]any{"cert_file": nf.Cert, "key_file": nf.Key, "client_ca_file": p.certs.CA, "require_client_cert": true}
	raft["tls"] = mutual
	cfg["acquirer"].(map[string]any)["tls"] = mutual
	cfg["admin_cert_file"], cfg["admin_key_file"] = nf.Cert, nf.Key
	return nil
}

// start runs node id from its config (a restart keeps its data), as its
// user if it has one.
func (p *procCluster) start(id string) error {
	var env []string
	if p.failpoints {
		env = append(os.Environ(), "TILLGATE_FAILPOINT_DIR="+p.failpointDir(id))
	}
	return p.spawnAs(id, p.credential(id), env, p.tillgate, "serve", "--config", filepath.Join(p.dir, id+".json"), "--log-level", p.nodeLog)
}

// spawn starts a process as this process's user.
func (p *procCluster) spawn(name, bin string, args ...string) error {
	return p.spawnAs(name, nil, nil, bin, args...)
}

// spawnAs starts a process whose output goes to DIR/name.log, as cred (nil:
// this process's user), with env (nil: this process's).
func (p *procCluster) spawnAs(name string, cred *syscall.Credential, env []string, bin string, args ...string) error {
	logf, err := os.OpenFile(filepath.Join(p.dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("bench: start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = logf, logf, env
	// Should tillbench die without stopping them, they die too (the
	// signal is set after the switch of user, which would clear it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("bench: start %s: %w", name, err)
	}
	pr := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(pr.done) }()
	p.mu.Lock()
	p.procs[name] = pr
	p.mu.Unlock()
	p.log.Info("started", "process", name, "pid", cmd.Process.Pid)
	return nil
}

func (p *procCluster) get(name string) *proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.procs[name]
}

// kill SIGKILLs name and waits for it to exit.
func (p *procCluster) kill(name string) error {
	pr := p.get(name)
	if pr == nil {
		return fmt.Errorf("bench: kill %s: not running", name)
	}
	if err := pr.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("bench: kill %s: %w", name, err)
	}
	<-pr.done
	p.mu.Lock()
	delete(p.procs, name)
	p.mu.Unlock()
	return nil
}

// signal sends sig (SIGSTOP, SIGCONT) to name.
func (p *procCluster) signal(name string, sig syscall.Signal) error {
	pr := p.get(name)
	if pr == nil {
		return fmt.Errorf("bench: signal %s: not running", name)
	}
	if err := pr.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("bench: signal %s to %s: %w", sig, name, err)
	}
	return nil
}

// pids are the running processes, for the resource sampler.
func (p *procCluster) pids() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.procs))
	for name, pr := range p.procs {
		out[name] = pr.cmd.Process.Pid
	}
	return out
}

// stopAll stops the nodes, then acqsim, with SIGTERM (SIGKILL after 20 s):
// nodes first, so that none is left asking a gone acquirer.
func (p *procCluster) stopAll() {
	var wg sync.WaitGroup
	for _, id := range p.ids {
		if pr := p.get(id); pr != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop(id, pr) }()
		}
	}
	wg.Wait()
	if pr := p.get("acqsim"); pr != nil {
		p.stop("acqsim", pr)
	}
	p.mu.Lock()
	p.procs = map[string]*proc{}
	p.mu.Unlock()
	// Only now: a node still running would keep its mount busy.
	if err := p.unmountAll(); err != nil {
		p.log.Error("unmount", "err", err)
	}
}

// stopTimeout is how long a process has to stop on SIGTERM.
const stopTimeout = 20 * time.Second

// stop ends pr with SIGTERM, or after stopTimeout with SIGQUIT (a Go
// process then writes every goroutine's stack to its log: why it did not
// stop) and SIGKILL; a process that needs them is logged (a node that does
// not stop is a finding).
func (p *procCluster) stop(name string, pr *proc) {
	pr.cmd.Process.Signal(syscall.SIGCONT)
	pr.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-pr.done:
		return
	case <-time.After(stopTimeout):
	}
	p.log.Warn("did not stop within the timeout of SIGTERM: SIGQUIT (goroutines to its log), then killed", "process", name,
		"timeout", stopTimeout, "log", filepath.Join(p.dir, name+".log"))
	pr.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-pr.done:
	case <-time.After(2 * time.Second):
		pr.cmd.Process.Kill()
		<-pr.done
	}
}

// waitReady waits for acqsim's /healthz and a serving active.
func (p *procCluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if p.acqsimUp(ctx) {
			if _, err := p.leader(ctx); err == nil {
				return nil
			}
		}
		if err := p.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: cluster not ready after %s (logs in %s): %w", timeout, p.dir, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *procCluster) acqsimUp(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL(p.acqAdm)+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Timeout: time.Second}).Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// exited reports a process that stopped on its own, with its log's tail.
func (p *procCluster) exited() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, pr := range p.procs {
		select {
		case <-pr.done:
			return fmt.Errorf("bench: %s exited (%v): %s", name, pr.cmd.ProcessState, logTail(filepath.Join(p.dir, name+".log"), 5))
		default:
		}
	}
	return nil
}

// leader returns the id of the serving active, asking every running node.
func (p *procCluster) leader(ctx context.Context) (string, error) {
	for i, id := range p.ids {
		if p.get(id) == nil {
			continue
		}
		c, cancel := context.WithTimeout(ctx, time.Second)
		st, err := p.adminClient(i).Status(c)
		cancel()
		if err == nil && st.Serving {
			return id, nil
		}
	}
	return "", errors.New("bench: no serving active")
}

// waitLeader polls leader until ctx ends.
func (p *procCluster) waitLeader(ctx context.Context) (string, error) {
	for {
		id, err := p.leader(ctx)
		if err == nil {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("bench: waiting for an active: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func logTail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var all []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		all = append(all, sc.Text())
	}
	return strings.Join(all[max(len(all)-lines, 0):], "\n")
}

// freePorts returns n distinct free loopback addresses.
func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("bench: free port: %w", err)
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}
