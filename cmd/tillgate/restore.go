package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/tillgate/tillgate/node"
)

type restoreCommand struct{}

func (c *restoreCommand) Usage() string {
	return `usage: tillgate restore --backup FILE --config FILE [--id ID --data DIR --raft ADDR]

Prepares an empty data directory to start a new single-voter cluster from a
backup (tillctl backup): the backup becomes a Raft snapshot at its applied
index. Then start the node with bootstrap off, and add voters with empty data
directories (tillctl members add). See docs/backup-restore.md.

`
}

func (c *restoreCommand) Run(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var (
		backup     = fs.String("backup", "", "backup file (tillctl backup)")
		configPath = fs.String("config", "", "the node's JSON config file")
		id         = fs.String("id", "", "node id (overrides the config)")
		data       = fs.String("data", "", "data directory (overrides the config)")
		raftAddr   = fs.String("raft", "", "Raft address (overrides the config)")
	)
	fs.Usage = func() { fmt.Fprint(os.Stderr, c.Usage()); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *backup == "" {
		return errUsage
	}
	cfg := node.DefaultConfig()
	if *configPath != "" {
		if err := loadConfig(*configPath, &cfg); err != nil {
			return err
		}
	}
	setStr(&cfg.ID, *id)
	setStr(&cfg.DataDir, *data)
	setStr(&cfg.RaftAddr, *raftAddr)
	if cfg.ID == "" || cfg.DataDir == "" {
		return fmt.Errorf("restore needs the node's id and data_dir (from --config or --id/--data)")
	}
	if err := node.RestoreBackup(cfg, *backup); err != nil {
		return err
	}
	fmt.Printf("%s is ready: start node %s with bootstrap off; it will lead a one-voter cluster\n", cfg.DataDir, cfg.ID)
	return nil
}
