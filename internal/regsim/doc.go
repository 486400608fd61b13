// Package regsim simulates cash registers for the demo and the system tests:
// each register holds one TCP connection, sends one request at a time, follows
// the active's address from DE48, and repeats (xx01, same identity) what got
// no answer. A transaction once started is finished (answered, or given up
// at its deadline), whatever the run's context does. With Config.History
// every request is recorded for the checker (package check). It is
// deliberately simple: it never reverses what it did not learn; the
// register-side failover client with durable auto-reversal is package
// failover.
package regsim
