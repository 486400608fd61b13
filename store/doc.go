// Package store is tillgate's replicated state machine on bbolt: it decodes
// the commands that Raft commits (INTENT, OUTCOME), applies each batch in one
// bbolt transaction together with the applied index, keeps transactions and
// their indexes, and answers queries, totals, state hashes and snapshots.
//
// Apply is deterministic: it never reads the clock or iterates a map, so the
// same log gives the same state on every node. Card numbers arrive already
// sealed by a Vault; track data, PIN blocks and CVV never reach this package.
package store
