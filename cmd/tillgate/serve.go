package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/tillgate/tillgate/internal/cli"
	"github.com/tillgate/tillgate/node"
)

type serveCommand struct{}

func (c *serveCommand) Usage() string {
	return `usage: tillgate serve [--config FILE] [flags]

Runs one node. Settings come from the JSON config file (see deploy/ and
README), then from flags, which win. --check validates and exits.

`
}

func (c *serveCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var (
		configPath = fs.String("config", "", "JSON config file")
		check      = fs.Bool("check", false, "validate the config and exit")
		logLevel   = fs.String("log-level", "info", "debug, info, warn or error")
		id         = fs.String("id", "", "node id")
		data       = fs.String("data", "", "data directory")
		listen     = fs.String("listen", "", "register listen address")
		raftAddr   = fs.String("raft", "", "Raft address")
		admin      = fs.String("admin", "", "admin HTTP address (empty string disables)")
		peers      = fs.String("peers", "", "all voters: id=raft_addr/register_addr,...")
		bootstrap  = fs.Bool("bootstrap", false, "form the cluster from --peers if this node has no state")
		acq        = fs.String("acquirer", "", "acquirer host address")
		cardKey    = fs.String("card-key", "", "card-data key file (tillgate keygen)")
		regCert    = fs.String("register-cert", "", "register listener certificate (PEM): the register port then speaks TLS only")
		regKey     = fs.String("register-key", "", "register listener key (PEM)")
		regCA      = fs.String("register-client-ca", "", "CA (PEM) register client certificates chain to")
		regRequire = fs.Bool("register-require-client-cert", false, "refuse registers without a certificate of --register-client-ca")
		raftCA     = fs.String("raft-ca", "", "Raft over mutual TLS: the cluster CA (PEM)")
		raftCert   = fs.String("raft-cert", "", "Raft over mutual TLS: this node's certificate (PEM), naming its Raft address")
		raftKey    = fs.String("raft-key", "", "Raft over mutual TLS: this node's key (PEM)")
	)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := node.DefaultConfig()
	if *configPath != "" {
		if err := loadConfig(*configPath, &cfg); err != nil {
			return err
		}
	}
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "id":
			cfg.ID = *id
		case "data":
			cfg.DataDir = *data
		case "listen":
			cfg.RegisterAddr = *listen
		case "raft":
			cfg.RaftAddr = *raftAddr
		case "admin":
			cfg.AdminAddr = *admin
		case "bootstrap":
			cfg.Bootstrap = *bootstrap
		case "acquirer":
			cfg.Acquirer.Addr = *acq
		case "card-key":
			cfg.CardKeyFile = *cardKey
		case "peers":
			cfg.Peers, flagErr = parsePeers(*peers)
		case "register-cert":
			cfg.RegisterTLS.CertFile = *regCert
		case "register-key":
			cfg.RegisterTLS.KeyFile = *regKey
		case "register-client-ca":
			cfg.RegisterTLS.ClientCAFile = *regCA
		case "register-require-client-cert":
			cfg.RegisterTLS.RequireClientCert = *regRequire
		case "raft-ca":
			cfg.RaftTLS.CAFile = *raftCA
		case "raft-cert":
			cfg.RaftTLS.CertFile = *raftCert
		case "raft-key":
			cfg.RaftTLS.KeyFile = *raftKey
		}
	})
	if flagErr != nil {
		return flagErr
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *check {
		fmt.Println("config OK")
		return nil
	}
	cli.TuneServerGC()
	cfg.Failpoint = failpointsIn(os.Getenv(envFailpointDir))
	cfg.StateCommitHook = eioWhile(os.Getenv(envFailpointDir), failStateEIO)
	cfg.Raft.WriteHook = eioWhile(os.Getenv(envFailpointDir), failRaftLogEIO)
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		cfg.Logger.Info("signal received: stopping")
	case err = <-n.Err():
		cfg.Logger.Error("node failed: stopping", "err", err)
	}
	if cerr := n.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
