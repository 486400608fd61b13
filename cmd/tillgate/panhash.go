package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tillgate/tillgate/store"
)

// panhashCommand prints keyed PAN hashes for the stand-in negative list,
// reading card numbers from stdin so that they never appear in argv (ps,
// shell history).
type panhashCommand struct {
	in  io.Reader
	out io.Writer
}

func (c *panhashCommand) Usage() string {
	return `usage: tillgate panhash KEYFILE < pans

Reads card numbers from stdin, one a line, and prints each one's keyed hash
(hex) under the cluster's card-data key: the form stand_in.negative_pan_hashes
takes. The card numbers are never printed.
`
}

func (c *panhashCommand) Run(_ context.Context, args []string) error {
	if len(args) != 1 {
		return errUsage
	}
	key, err := store.LoadKeyFile(args[0])
	if err != nil {
		return err
	}
	v, err := store.NewVault(key)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(c.in)
	for line := 1; sc.Scan(); line++ {
		pan := strings.TrimSpace(sc.Text())
		if pan == "" {
			continue
		}
		if len(pan) < 12 || len(pan) > 19 || strings.Trim(pan, "0123456789") != "" {
			return fmt.Errorf("line %d: not a card number (12-19 digits)", line)
		}
		fmt.Fprintln(c.out, hex.EncodeToString(v.Hash(pan)))
	}
	if err := sc.Err(); err != nil {
		return errors.Join(errors.New("reading stdin"), err)
	}
	return nil
}
