// Package localcluster runs a whole tillgate cluster inside one process on
// loopback: the demo and the system tests share it, so that both start
// nodes the same way.
package localcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/store"
)

// Options describe the cluster. Zero ports mean "pick free ones".
type Options struct {
	Dir          string
	Nodes        int
	RegisterBase int // node i listens on RegisterBase+i
	RaftBase     int
	AdminBase    int
	// APIBase, when set, serves the payments API on APIBase+i; -1 on
	// free ports. 0: no payments API.
	APIBase      int
	AcquirerAddr string
	// ACSURL is the issuer ACS the payments API asks (acqsim's); empty:
	// none.
	ACSURL string
	Logger *slog.Logger
	// TLS, if set, runs every link over TLS with the files
	// pki.WriteCluster wrote for the nodes' ids (node1, node2, ...) and
	// AcqsimName: the registers' port (a register certificate required),
	// Raft (mutual), the admin and payments APIs (HTTPS) and the link to the acquirer,
	// which must serve AcqsimTLS.
	TLS *pki.Files
	// Tune adjusts each node's config before it starts (timings, limits).
	Tune func(*node.Config)
}

// AcqsimName is the name of the acquirer simulator's certificate among a
// TLS cluster's files.
const AcqsimName = "acqsim"

// CertNames are the certificates pki.WriteCluster must make for a TLS
// cluster of n nodes: the nodes' and the acquirer simulator's.
func CertNames(n int) []string { return append(NodeIDs(n), AcqsimName) }

// AcqsimTLS is the acquirer simulator's TLS in a TLS cluster: its
// certificate, a node certificate required.
func AcqsimTLS(f *pki.Files) (*tls.Config, error) {
	a := f.Nodes[AcqsimName]
	return tlsconf.Server{CertFile: a.Cert, KeyFile: a.Key, ClientCAFile: f.CA}.Config()
}

// AdminTLS is how a client verifies a TLS cluster's admin APIs.
func AdminTLS(f *pki.Files) (*tls.Config, error) { return tlsconf.Client{CAFile: f.CA}.Config() }

// NodeIDs are the ids of a cluster of n nodes.
func NodeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = nodeID(i)
	}
	return ids
}

// Cluster is a set of running nodes.
type Cluster struct {
	Configs []node.Config
	Nodes   []*node.Node // nil for a stopped node
}

// Start writes a card key if Dir has none, and starts every node.
func Start(o Options) (*Cluster, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	keyFile := filepath.Join(o.Dir, "card.key")
	if _, err := store.LoadKeyFile(keyFile); err != nil {
		if _, err := store.WriteNewKeyFile(keyFile); err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
	}
	// One batch of free ports, held open together so none repeats.
	free, err := FreePorts(4 * o.Nodes)
	if err != nil {
		return nil, err
	}
	reg := addrs(o.RegisterBase, free[:o.Nodes])
	rft := addrs(o.RaftBase, free[o.Nodes:2*o.Nodes])
	adm := addrs(o.AdminBase, free[2*o.Nodes:3*o.Nodes])
	api := make([]string, o.Nodes)
	if o.APIBase != 0 {
		api = addrs(max(o.APIBase, 0), free[3*o.Nodes:])
	}
	c := &Cluster{}
	var peers []node.Peer
	for i := range o.Nodes {
		peers = append(peers, node.Peer{ID: nodeID(i), RaftAddr: rft[i], RegisterAddr: reg[i], AdminAddr: adm[i], APIAddr: api[i]})
	}
	for i := range o.Nodes {
		cfg := node.DefaultConfig()
		cfg.ID = nodeID(i)
		cfg.DataDir = filepath.Join(o.Dir, cfg.ID)
		cfg.RegisterAddr, cfg.RaftAddr, cfg.AdminAddr, cfg.APIAddr = reg[i], rft[i], adm[i], api[i]
		cfg.Peers = peers
		cfg.Bootstrap = true
		cfg.CardKeyFile = keyFile
		cfg.Acquirer.Addr = o.AcquirerAddr
		if cfg.APIAddr != "" {
			cfg.ACSURL = o.ACSURL
		}
		cfg.Logger = o.Logger
		// The whole simulated fleet connects from one loopback address.
		cfg.MaxConnsPerIP = -1
		if f := o.TLS; f != nil {
			nf := f.Nodes[cfg.ID]
			cfg.RegisterTLS = node.RegisterTLSConfig{CertFile: nf.Cert, KeyFile: nf.Key, ClientCAFile: f.CA, RequireClientCert: true}
			cfg.RaftTLS = node.RaftTLSConfig{CAFile: f.CA, CertFile: nf.Cert, KeyFile: nf.Key}
			cfg.AdminCertFile, cfg.AdminKeyFile = nf.Cert, nf.Key
			if cfg.APIAddr != "" {
				cfg.APICertFile, cfg.APIKeyFile = nf.Cert, nf.Key
			}
			cfg.Acquirer.TLS = &tlsconf.Client{CAFile: f.CA, CertFile: nf.Cert, KeyFile: nf.Key}
		}
		if o.Tune != nil {
			o.Tune(&cfg)
		}
		c.Configs = append(c.Configs, cfg)
	}
	c.Nodes = make([]*node.Node, o.Nodes)
	for i := range o.Nodes {
		if err := c.StartNode(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func nodeID(i int) string { return "node" + strconv.Itoa(i+1) }

// addrs returns loopback addresses from base, or the free ones when base is 0.
func addrs(base int, free []string) []string {
	if base == 0 {
		return free
	}
	out := make([]string, len(free))
	for i := range out {
		out[i] = "127.0.0.1:" + strconv.Itoa(base+i)
	}
	return out
}

// FreePorts returns n loopback addresses that were free a moment ago. They
// come from below Linux's ephemeral range (32768-60999), so that the
// outgoing connections of the nodes themselves cannot take them between
// this check and the listen.
func FreePorts(n int) ([]string, error) { return FreePortsIn(20000, 32000, n) }

// FreePortsIn is FreePorts from [lo, hi). Tests that kill a node and
// restart it on the same ports use a range of their own: while the node is
// down its ports are free, and another test package running at the same
// time must not be handed one of them.
func FreePortsIn(lo, hi, n int) ([]string, error) {
	out := make([]string, 0, n)
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			return nil, fmt.Errorf("localcluster: no %d free ports in %d-%d", n, lo, hi-1)
		}
		addr := "127.0.0.1:" + strconv.Itoa(lo+rand.IntN(hi-lo))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		held = append(held, ln)
		out = append(out, addr)
	}
	return out, nil
}

// StartNode starts (or restarts, from its data) node i.
func (c *Cluster) StartNode(i int) error {
	n, err := node.New(c.Configs[i])
	if err != nil {
		return fmt.Errorf("localcluster: %s: %w", c.Configs[i].ID, err)
	}
	if err := n.Start(); err != nil {
		return fmt.Errorf("localcluster: %s: %w", c.Configs[i].ID, err)
	}
	c.Nodes[i] = n
	return nil
}

// StopNode closes node i; its data stays for a restart.
func (c *Cluster) StopNode(i int) error {
	if c.Nodes[i] == nil {
		return nil
	}
	err := c.Nodes[i].Close()
	c.Nodes[i] = nil
	return err
}

// RegisterAddrs lists every node's register address.
func (c *Cluster) RegisterAddrs() []string {
	var out []string
	for _, cfg := range c.Configs {
		out = append(out, cfg.RegisterAddr)
	}
	return out
}

// Leader returns the index of the running node that leads and serves, or -1.
func (c *Cluster) Leader() int {
	for i, n := range c.Nodes {
		// Serving, not only leading: a request sent to a leader still
		// taking over may be relayed and answered "not processed".
		if n != nil && n.Serving() {
			return i
		}
	}
	return -1
}

// WaitLeader polls until a running node leads and serves.
func (c *Cluster) WaitLeader(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if i := c.Leader(); i >= 0 {
			return i, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return -1, errors.New("localcluster: no leader elected")
}

// RegisterTerminals registers ranges of terminals at the active, waiting
// up to timeout for one, and then until every running node has applied
// them: a cluster starts with an empty registry and refuses the terminals
// it does not know, and a test that reads a standby right after must find
// them there.
func (c *Cluster) RegisterTerminals(timeout time.Duration, ranges ...store.TerminalRange) error {
	deadline := time.Now().Add(timeout)
	for {
		i, err := c.WaitLeader(time.Until(deadline))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, err = c.Nodes[i].AddTerminals(ctx, ranges...)
		cancel()
		switch {
		case err == nil:
			return c.waitApplied(c.Nodes[i].Store().AppliedIndex(), deadline)
		case errors.Is(err, store.ErrInvalid) || time.Now().After(deadline):
			return fmt.Errorf("localcluster: register terminals: %w", err)
		}
		time.Sleep(20 * time.Millisecond) // the leader changed under the command: again at the next
	}
}

// waitApplied waits until every running node has applied index.
func (c *Cluster) waitApplied(index uint64, deadline time.Time) error {
	for _, n := range c.Nodes {
		for n != nil && n.Store().AppliedIndex() < index {
			if time.Now().After(deadline) {
				return fmt.Errorf("localcluster: %s has not applied index %d", n.ID(), index)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// Close stops every running node.
func (c *Cluster) Close() error {
	var errs []error
	for i := range c.Nodes {
		errs = append(errs, c.StopNode(i))
	}
	return errors.Join(errs...)
}
