// Package regsim simulates cash registers for the demo and the system tests:
// each register holds one TCP connection, sends one request at a time, follows
// the active's address from DE48, and repeats (xx01, same identity) what got
// no answer. It is deliberately simple; the register-side failover client
// with durable auto-reversal is package failover.
package regsim
