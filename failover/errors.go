package failover

import "errors"

// Errors. Do's error always wraps exactly one of ErrNotSent and
// ErrOutcomeUnknown when the request was valid and the client open, so the
// register can tell "try again" from "the cashier must not be told
// approved".
var (
	// ErrNotSent: the request provably never reached a node (dial failed,
	// nothing written, or every node said "not processed"). The caller may
	// retry it unchanged.
	ErrNotSent = errors.New("failover: request not sent")
	// ErrOutcomeUnknown: bytes left but no answer came by the deadline. A
	// reversal (or, for reversals and advices, the message itself) was
	// durably queued before the request left, and is due before Do
	// returns.
	ErrOutcomeUnknown = errors.New("failover: outcome unknown")
	// ErrOffline: every node failed recently; new requests fail fast until
	// the next probe. Wrapped together with ErrNotSent.
	ErrOffline = errors.New("failover: offline")
	// ErrClosed: the client is closed.
	ErrClosed = errors.New("failover: client closed")
	// ErrInvalidRequest: the request lacks what identifies it (MTI, DE7,
	// DE11), cannot be packed, is already in flight on this client, or is
	// a reversal or advice already in its store-and-forward queue (the
	// client delivers that one itself).
	ErrInvalidRequest = errors.New("failover: invalid request")
	// ErrConfig: the Config cannot work.
	ErrConfig = errors.New("failover: invalid config")

	// Internal causes, wrapped for context.
	errLinkDown       = errors.New("connection lost")
	errAttemptTimeout = errors.New("no answer within the attempt timeout")
	errNoNode         = errors.New("no node reachable")
	errNotProcessed   = errors.New("every node answered not processed")
	errDrained        = errors.New("drained: the active moved")
	errNoActive       = errors.New("the node knows no active")
	errPack           = errors.New("cannot be packed")
	errWriteBusy      = errors.New("another write held the connection until the deadline")
	errQueuedAlready  = errors.New("already queued")
	errNotAcked       = errors.New("answered without acknowledging")
)
