package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/internal/pki"
	"github.com/tillgate/tillgate/internal/regsim"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

type demoCommand struct{}

func (c *demoCommand) Usage() string {
	return `usage: tillgate demo [flags]

Runs a local 3-node cluster, the acquirer simulator and simulated registers
on loopback, prints what listens where and a live line, and stops on Ctrl-C.
With --registers 0 no registers run, so an outside client can be pointed at
the cluster. With --cutover-every D the business day is cut over every D:
each closed day's settlement file is written and reconciled with the
simulator's export, and a line says how it went.

With --tls it writes a demo CA and certificates to DATA/tls/ (ca.pem;
register.pem and register-key.pem, the registers' certificate, its
CommonName the demo's store "demo-store"; nodeN.pem and nodeN-key.pem,
each node's certificate; acqsim.pem and acqsim-key.pem), all for
localhost and 127.0.0.1, and runs every link over TLS: the register
ports speak TLS only and require the register certificate (plain TCP is
refused), Raft runs over mutual TLS, the admin APIs over HTTPS (tillctl
--cacert DATA/tls/ca.pem) and so the payments APIs and the portal (curl
--cacert DATA/tls/ca.pem), the nodes' links to the acquirer simulator
over TLS with their certificates; the simulated registers connect with
the register certificate.

The payments API (node1 on 127.0.0.1:8080, the others on :8081, :8082)
has a test merchant "demo" with the key demo-merchant-key; the issuer's
access control server (3-D Secure) runs on 127.0.0.1:9585, where cards
whose number starts with 400000 need a challenge, whose code is always
123456 (4000000000000010 needs one; 4761739001010119 does not). The demo
creates a payment link and prints its URL: open it in a browser.

`
}

func (c *demoCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var (
		dataDir   = fs.String("data", "", "data directory (default: a new temp dir, removed at exit)")
		registers = fs.Int("registers", 200, "simulated registers (0: none)")
		think     = fs.Duration("think", 100*time.Millisecond, "mean pause between a register's transactions")
		latency   = fs.String("acq-latency", "1-5ms", "acquirer simulator latency: fixed (2ms) or a range (1-5ms)")
		logLevel  = fs.String("log-level", "error", "debug, info, warn or error")
		cutEvery  = fs.Duration("cutover-every", 0, "cut the business day over this often, settle and reconcile it (0: never)")
		useTLS    = fs.Bool("tls", false, "registers over TLS with a client certificate required, Raft over mutual TLS (certificates in DATA/tls)")
	)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Nodes stopping one after another log each other's absence: silence
	// the logs once Ctrl-C has been pressed.
	quiet := &quietHandler{Handler: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}), off: new(atomic.Bool)}
	log := slog.New(quiet)
	defer quiet.off.Store(true)
	lat, err := sim.ParseLatency(*latency)
	if err != nil {
		return fmt.Errorf("--acq-latency: %w", err)
	}
	dir := *dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tillgate-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}

	var certs *pki.Files
	var acqTLS *tls.Config
	if *useTLS {
		if certs, err = pki.WriteCluster(filepath.Join(dir, "tls"), demoStore, localcluster.CertNames(3)); err != nil {
			return err
		}
		if acqTLS, err = localcluster.AcqsimTLS(certs); err != nil {
			return err
		}
	}
	admin, err := demoAdmin(certs)
	if err != nil {
		return err
	}
	acsURL, stopACS, err := demoACS(log)
	if err != nil {
		return err
	}
	defer stopACS()
	acq, err := sim.Open(sim.Config{Addr: "127.0.0.1:9583", DataDir: filepath.Join(dir, "acqsim"), Latency: lat, Dialect: wire.DefaultDialect(), TLS: acqTLS, Logger: log})
	if err != nil {
		return err
	}
	defer acq.Close()
	cl, err := localcluster.Start(localcluster.Options{
		Dir: dir, RegisterBase: 8583, RaftBase: 7001, AdminBase: 9101, APIBase: 8080,
		AcquirerAddr: acq.Addr(), ACSURL: acsURL, Logger: log, TLS: certs,
	})
	if err != nil {
		return err
	}
	// Registers stop before the cluster so none is left waiting on a closed node.
	defer cl.Close()

	scheme := "http"
	if certs != nil {
		scheme = "https"
	}
	fmt.Printf("data        %s\n", dir)
	fmt.Printf("acqsim      %s  (latency %s)\n", acq.Addr(), *latency)
	for _, cfg := range cl.Configs {
		fmt.Printf("%-11s registers %s  raft %s  status page %s://%s/\n", cfg.ID, cfg.RegisterAddr, cfg.RaftAddr, scheme, cfg.AdminAddr)
	}
	cacert := ""
	if certs != nil {
		cacert = " --cacert " + certs.CA
	}
	fmt.Printf("tillctl     bin/tillctl --endpoints %s,%s,%s%s status\n", cl.Configs[0].AdminAddr, cl.Configs[1].AdminAddr, cl.Configs[2].AdminAddr, cacert)
	if err := demoMerchant(ctx, cl, admin); err != nil {
		return err
	}
	fmt.Printf("payments    %s://%s/v1/payments (any node)  merchant %q, key %s\n", scheme, cl.Configs[0].APIAddr, demoMerchantID, demoMerchantKey)
	fmt.Printf("3-D Secure  %s: cards starting %s need a challenge, code %s (test card %s)\n", acsURL, demoACSRange, demoACSCode, demoChallengeCard)
	link, err := demoLink(ctx, scheme+"://"+cl.Configs[0].APIAddr)
	if err != nil {
		return err
	}
	fmt.Printf("pay link    %s\n", link)
	fmt.Printf("portal      %s://%s/portal/ (log in with the key %s)\n", scheme, cl.Configs[0].APIAddr, demoMerchantKey)
	if certs != nil {
		printTLS(certs, cl.Configs[0].RegisterAddr)
	}
	fmt.Printf("registers   %d simulated; Ctrl-C stops\n\n", *registers)

	var fleet *regsim.Fleet
	done := make(chan struct{})
	runCtx, stopFleet := context.WithCancel(ctx)
	defer stopFleet()
	if *registers > 0 {
		rc := regsim.DefaultConfig()
		rc.Addrs, rc.Registers, rc.ThinkTime = cl.RegisterAddrs(), *registers, *think
		if certs != nil {
			if rc.TLS, err = registerTLS(certs); err != nil {
				return err
			}
		}
		from, to := rc.Terminals()
		if err := cl.RegisterTerminals(time.Minute, store.TerminalRange{From: from, To: to, Merchant: regsim.Merchant, Store: demoStore}); err != nil {
			return err
		}
		fmt.Printf("terminals   %s-%s registered to merchant %s, store %s (tillctl terminal list)\n\n", from, to, regsim.Merchant, demoStore)
		fleet = regsim.New(rc)
		go func() { fleet.Run(runCtx); close(done) }()
	} else {
		fmt.Println()
		close(done)
	}
	if *cutEvery > 0 {
		var nodes []*adminapi.Client
		for _, cfg := range cl.Configs {
			nodes = append(nodes, admin(cfg.AdminAddr)) // the demo's admin APIs have no token
		}
		go closeDays(runCtx, nodes, acq, *cutEvery)
	}
	live(ctx, cl, fleet)
	quiet.off.Store(true)
	fmt.Print("\nstopping...")
	stopFleet()
	<-done
	fmt.Println()
	return nil
}

// demoStore is the store the demo's terminals stand in, and the one its
// register certificate names.
const demoStore = "demo-store"

// registerTLS is a register's TLS in the demo: the demo CA, and the
// register certificate.
func registerTLS(f *pki.Files) (*tls.Config, error) {
	return failover.TLSFiles{CAFile: f.CA, CertFile: f.Register.Cert, KeyFile: f.Register.Key}.Load()
}

// demoAdmin makes the demo's admin clients: over HTTPS, trusting the demo
// CA, with --tls.
func demoAdmin(certs *pki.Files) (func(addr string) *adminapi.Client, error) {
	if certs == nil {
		return adminapi.NewClient, nil
	}
	tc, err := localcluster.AdminTLS(certs)
	if err != nil {
		return nil, err
	}
	return func(addr string) *adminapi.Client { return adminapi.NewTLSClient(addr, tc) }, nil
}

// printTLS says where the certificates are and how to connect.
func printTLS(f *pki.Files, addr string) {
	fmt.Printf("tls         every link over TLS: registers (certificate required), Raft (mutual), admin and payments APIs (HTTPS), acqsim; files in %s\n", f.Dir)
	fmt.Printf("            CA %s; register certificate %s, key %s (CN %s)\n", f.CA, f.Register.Cert, f.Register.Key, demoStore)
	fmt.Printf("            try: openssl s_client -connect %s -CAfile %s -cert %s -key %s\n", addr, f.CA, f.Register.Cert, f.Register.Key)
	fmt.Printf("            in Go: failover.TLSFiles{CAFile: %q, CertFile: %q, KeyFile: %q}.Load()\n", f.CA, f.Register.Cert, f.Register.Key)
}

// live prints one status line a second until ctx ends.
func live(ctx context.Context, cl *localcluster.Cluster, fleet *regsim.Fleet) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last int64
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		leader := "electing"
		if i := cl.Leader(); i >= 0 {
			leader = cl.Configs[i].ID
		}
		if fleet == nil {
			fmt.Printf("\r%5.0fs  leader %-8s  (no simulated registers)   ", time.Since(start).Seconds(), leader)
			continue
		}
		s := &fleet.Stats
		done := s.Approved.Load() + s.Declined.Load() + s.Unknown.Load()
		fmt.Printf("\r%5.0fs  %6d tx/s  approved %8d  declined %7d  unknown %4d  leader %-8s",
			time.Since(start).Seconds(), done-last, s.Approved.Load(), s.Declined.Load(), s.Unknown.Load(), leader)
		last = done
	}
}

// quietHandler drops every record once off is set, in every logger derived
// from it.
type quietHandler struct {
	slog.Handler
	off *atomic.Bool
}

func (h *quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.off.Load() && h.Handler.Enabled(ctx, l)
}

func (h *quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &quietHandler{Handler: h.Handler.WithAttrs(a), off: h.off}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{Handler: h.Handler.WithGroup(name), off: h.off}
}

// The demo's card-not-present merchant (README: the payments API).
const (
	demoMerchantID  = "demo"
	demoMerchantKey = "demo-merchant-key"
)

// demoMerchant records the demo merchant once a node serves (an existing
// one, from a reused --data, is fine).
func demoMerchant(ctx context.Context, cl *localcluster.Cluster, admin func(addr string) *adminapi.Client) error {
	i, err := cl.WaitLeader(30 * time.Second)
	if err != nil {
		return err
	}
	h := sha256.Sum256([]byte(demoMerchantKey))
	_, err = admin(cl.Configs[i].AdminAddr).AddMerchant(ctx, adminapi.MerchantAdd{
		ID: demoMerchantID, Name: "Demo shop", KeyName: "demo", KeyHash: hex.EncodeToString(h[:]),
	})
	var apiErr *adminapi.APIError
	if errors.As(err, &apiErr) && apiErr.NotYet() {
		return nil // 409: recorded in an earlier run
	}
	if err != nil {
		return fmt.Errorf("demo merchant: %w", err)
	}
	return nil
}
