// Package systemtest runs whole tillgate clusters (3 nodes over real TCP
// with fsync'd files, the acquirer simulator, simulated registers) and checks
// the invariants of shared/FAULTS.md after load and faults.
package systemtest
