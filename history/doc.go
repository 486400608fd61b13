// Package history records what registers asked and what they were told, so
// that a checker can compare it, identity by identity, with every node's
// state and the acquirer's ledger after a run (package check).
//
// One Event is one request (its invoke and return, the answer or the lack
// of one) or one entry of a register's store-and-forward queue (queued,
// acknowledged). A Log keeps them in memory and, when given a file, as JSON
// lines (history.jsonl beside a tillbench report), one event a line.
package history
