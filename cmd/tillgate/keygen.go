package main

import (
	"context"
	"fmt"

	"github.com/tillgate/tillgate/store"
)

type keygenCommand struct{}

func (c *keygenCommand) Usage() string {
	return "usage: tillgate keygen FILE\n\nWrites a new random 256-bit card-data key as hex, mode 0600. Every node of a cluster needs the same key.\n"
}

func (c *keygenCommand) Run(_ context.Context, args []string) error {
	if len(args) != 1 {
		return errUsage
	}
	if _, err := store.WriteNewKeyFile(args[0]); err != nil {
		return err
	}
	fmt.Println("wrote", args[0])
	return nil
}
