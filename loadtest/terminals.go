package loadtest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// Merchant is the DE42 of every simulated register: the merchant its
// terminals are registered to.
const Merchant = merchantID

// Store is the store the fleet's terminals are registered in.
const Store = "loadtest"

// maxRange is what one add command may hold (store.MaxTerminalsPerCommand).
const maxRange = 20000

// Terminals are the fleet's terminal ids as ranges to register, each
// within what one command may add: the nodes refuse terminals they do not
// know.
func (c Config) Terminals() []adminapi.TerminalRange {
	var out []adminapi.TerminalRange
	for lo := c.TerminalBase; lo < c.TerminalBase+c.Registers; lo += maxRange {
		hi := min(lo+maxRange, c.TerminalBase+c.Registers) - 1
		out = append(out, adminapi.TerminalRange{From: terminalID(lo), To: terminalID(hi), Merchant: Merchant, Store: Store})
	}
	return out
}

func terminalID(n int) string { return fmt.Sprintf("L%07d", n) }

// RegisterTerminals registers the fleet's terminals through whichever of
// nodes leads (a standby answers 421), retrying until ctx ends while
// there is no leader. Registering them again changes nothing.
func (c Config) RegisterTerminals(ctx context.Context, nodes []*adminapi.Client) error {
	ranges := c.Terminals()
	var last error
	for {
		for _, n := range nodes {
			_, err := n.AddTerminals(ctx, ranges...)
			if err == nil {
				return nil
			}
			last = err
			var ae *adminapi.APIError
			if errors.As(err, &ae) && !ae.NotLeader() && ae.StatusCode < 500 {
				return fmt.Errorf("loadtest: register terminals: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadtest: register terminals: no leader took them: %w", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
