package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tillgate/tillgate/node/adminapi"
)

type backupCommand struct{ g *globals }

func (c *backupCommand) Usage() string {
	return `usage: tillctl backup > FILE
       tillctl backup --out FILE

Streams a consistent copy of one node's state (a bbolt file holding every
transaction and the Raft index it is current to) from the first endpoint
that answers. It refuses to write to a terminal. With --out, the file
appears only once the copy is complete. See docs/backup-restore.md for how
to restore.

Flags:
` + globalsUsage
}

func (c *backupCommand) Run(ctx context.Context, args []string) error {
	var outPath string
	pos, err := c.g.parse("backup", args, func(fs *flag.FlagSet) { fs.StringVar(&outPath, "out", "", "write to FILE") })
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if outPath == "" && isTerminal(c.g.out) {
		return usagef("refusing to write a binary backup to a terminal: redirect it (tillctl backup > state.db) or use --out FILE")
	}
	p, err := c.g.pool()
	if err != nil {
		return err
	}
	if outPath == "" {
		n, err := c.fetch(ctx, p, c.g.out)
		if err != nil {
			return fmt.Errorf("%w (the output is not a usable backup)", err)
		}
		fmt.Fprintf(stderrOf(c.g), "backup: %d bytes\n", n)
		return nil
	}
	return c.toFile(ctx, p, outPath)
}

func (c *backupCommand) fetch(ctx context.Context, p *pool, w io.Writer) (n int64, err error) {
	err = p.read(ctx, func(cl *adminapi.Client) (err error) { n, err = cl.Backup(ctx, w); return err })
	return n, err
}

// toFile writes path.partial and renames it once complete.
func (c *backupCommand) toFile(ctx context.Context, p *pool, path string) error {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := c.fetch(ctx, p, f)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	fmt.Fprintf(stderrOf(c.g), "backup: %d bytes written to %s\n", n, path)
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// stderrOf is where notes for people go: stderr, so stdout stays data.
func stderrOf(*globals) io.Writer { return os.Stderr }
