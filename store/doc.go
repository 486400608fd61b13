// Package store is tillgate's replicated state machine on bbolt.
//
// The leader encodes commands (IntentCmd, OutcomeCmd) and Raft commits them;
// every replica hands the committed entries to ApplyBatch, which applies a
// whole batch in one bbolt transaction together with the Raft index it
// reached, so a restart resumes exactly where the file stops. Apply is
// deterministic: it never reads the clock (times travel in the commands),
// never iterates a map and never depends on anything outside the file and
// the batch, so the same log gives byte-identical files on every replica
// (Hash compares them).
//
// Besides applying, a Store answers queries (Get, ByRRN, Pending, List),
// Totals and Hash, and takes and restores snapshots for Raft.
//
// Card numbers arrive already sealed by a Vault (AES-GCM plus a keyed hash);
// track data, PIN blocks and CVV never reach this package.
//
// The schema (buckets and index keys) is declared in schema.go; the command
// and record encoding in command.go, txn.go and encoding.go.
package store
