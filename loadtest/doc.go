// Package loadtest simulates fleets of cash registers for load tests: each
// register is a failover.Client with its own reversal queue and DE11
// sequence, driven closed loop (one transaction at a time, then a think
// time) or open loop (Poisson arrivals across the idle registers, at a
// constant rate or one that follows a Profile such as DayProfile, a retail
// day compressed into minutes).
//
// The Mix weighs purchases, refunds, pre-auths (0100), completions (0220
// naming an approved pre-auth of the same register in DE90), reversals
// (0400 naming an approved purchase of the same register) and echoes
// (0800 DE70 301). The Recorder keeps the latency of every transaction in
// log-bucketed Histograms (HDR style): as the register saw it, and the
// latency added by the cluster (minus the acquirer round trip the node
// reports in DE48 AQ); counts by response code, kind and error class; a
// one-second timeline; and, for faults marked during a run, the time
// registers took to resume. It gives a live Snapshot and a final Summary.
//
// Each register also keeps its own batch totals, counted as the cluster
// counts them (approved debits and credits not reversed, reversals
// answered 00 including its failover client's automatic ones), and the
// list of its batch's transactions. Fleet.CloseBatches ends the day: every
// register drains its reversal queue, sends 0500 920000, and on a 95
// uploads its transactions (0320) and sends 0500 960000; the BatchSummary
// sums both sides' totals (FAULTS.md I4). A 95 must be explained exactly
// by requests whose outcome that register never learnt (a subset of its
// unknown debits and credits adds up to the difference); otherwise the
// register's close fails ("95 unexplained").
//
// With Config.History every register records its requests (history.
// RequestEvent around each Do: answered, unknown, not sent or error) and
// the entries its failover client queued and got acknowledged (history.
// QueueEvent from EventReversalQueued and EventReversalAcked): the
// register side that package check compares, identity by identity, with
// every node and the acquirer's ledger.
package loadtest
