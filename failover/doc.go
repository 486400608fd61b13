// Package failover is the client library that cash-register software links
// in to talk to a tillgate cluster over ISO 8583.
//
// A Client follows the active node rather than a fixed primary: it keeps one
// multiplexed connection to the active (named by the DE48 hints every answer
// carries, followed only to configured nodes, else found by trying them), checks the link with
// echoes, and moves when the active dies or a newer active is named.
//
// Every request ends in exactly one of three ways: an answer (approved or
// declined), ErrNotSent (the request provably never reached a node; the
// caller may try again), or ErrOutcomeUnknown (bytes left and no answer came
// by the deadline). A reversal, or the request itself for reversals and
// advices, is written to a durable queue (the register's bbolt file, or a
// simulated fleet's SharedQueue) before the request leaves
// (write-ahead); a final answer removes it, otherwise it is sent until a
// node acknowledges it (any answer but 30, 91, 96 or "not processed"),
// across restarts and crashes. The queue keeps no clear card data, in
// either store: only an 0120's card number, sealed with the register's
// queue key (seal.go).
//
// A request is resent unchanged only while it provably never left; once
// bytes left, only repeats (xx01, same DE7, DE11 and DE41) go out, one at a
// time, to the active. See DESIGN.md in this directory for the state machine
// and the resend rules.
package failover
