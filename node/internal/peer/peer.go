// Package peer carries who sent a register request, as its listener
// established it, from the listener to the pipeline through the request's
// context: the pipeline decides what that sender may do (the terminal
// registry binds a client certificate's store to that store's terminals).
package peer

import "context"

// Identity is what a listener knows of the connection a request came on.
type Identity struct {
	// Addr is the remote address.
	Addr string
	// TLS says the connection is TLS.
	TLS bool
	// Store is the store a verified client certificate names (its
	// Subject CommonName); "" without a client certificate, or when the
	// certificate is a node's.
	Store string
	// Node is the cluster node a verified client certificate names (its
	// CommonName is a peer's id): a standby relaying a register's
	// request, having checked the register's own certificate itself.
	Node string
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the identity in ctx; ok false when no listener set one (a
// request relayed by a standby, a test).
func From(ctx context.Context) (id Identity, ok bool) {
	id, ok = ctx.Value(ctxKey{}).(Identity)
	return id, ok
}
