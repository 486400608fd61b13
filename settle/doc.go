// Package settle is tillgate's settlement file and its reconciliation with
// the acquirer's, as pure functions that import nothing of tillgate's but
// wire's batch totals (wire.Totals).
//
// A File is the settlement of one business day and one acquirer: the
// node builds it from the log (every row carries the Raft index of its
// record), and WriteCSV and WriteJSON turn it into bytes that depend on
// the File alone (no map iteration, no local time zone, no generation
// time), so that any node at any time writes the same file for a day.
// ReadCSV reads WriteCSV's output back and checks its trailer.
//
// Reconcile compares a File with the acquirer's own settlement file of the
// same window (ReadAcquirerCSV, the format acqsim exports) and with the
// register batches of the day, and reports every difference an operator
// must act on. docs/settlement.md describes both formats and what to do
// about each kind of discrepancy.
package settle
