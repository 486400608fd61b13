// Package logkey names what a node's log lines carry, so that every part of
// the node names it the same way.
package logkey

import (
	"github.com/tillgate/tillgate/node/internal/card"
	"github.com/tillgate/tillgate/wire"
)

// Log keys.
const (
	Err      = "err"
	Txn      = "txn" // a transaction's identity: terminal + STAN + DE7
	MTI      = "mti"
	STAN     = "stan"
	Terminal = "terminal"
	PAN      = "pan" // always masked
	Remote   = "remote"
	Term     = "term"
)

// Request is what identifies a register request in a log line, with its
// card number masked.
func Request(req *wire.Message) []any {
	return []any{MTI, req.MTI, STAN, req.STAN, Terminal, req.TerminalID, PAN, wire.MaskPAN(card.Number(req))}
}
