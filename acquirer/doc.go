// Package acquirer is tillgate's upstream side: a Link keeps a small pool
// of ISO 8583 connections to one acquirer host, matches answers to
// requests by identity (DE41 + DE11 + DE7), times requests out, keeps idle
// connections alive with echoes and reconnects with jittered backoff. A
// Router picks the acquirer for a card by BIN range.
//
// The errors of Send keep two situations apart that the caller must treat
// differently:
//
//   - ErrUnavailable: no byte of the request reached a socket (no
//     connection, or the connection failed before the frame was written).
//     The acquirer cannot know the transaction: declining or retrying is
//     safe. A closed link (ErrClosed), an unpackable message, a context
//     already ended, and a second copy of an identity still waiting on the
//     link (ErrInFlight) are reported wrapped in ErrUnavailable too.
//   - ErrTimeout, ErrConnLost, a cancelled context: the request was (or
//     may have been) written. The acquirer may have approved it: the
//     outcome is unknown and ends in a repeat or a reversal.
//
// Package acquirer/sim is the acquirer simulator used by tests, the demo
// and the benchmark.
package acquirer
