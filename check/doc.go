// Package check is tillgate's one invariant checker: the randomized
// simulation, tillbench and the system tests all judge a run with it.
//
// After a run has reached quiescence (no INTENT open, every store-and-forward
// queue drained, every replica at the same applied index), Collect reads
// every node through its admin API and the acquirer simulator's ledger, and
// Run compares them, identity by identity (DE41 + DE11 + DE7), with what the
// registers hold: their recorded history (package history). Aggregates are
// not enough: a lost approval offset by a phantom of the same amount passes
// every totals check, so each identity is classified and followed on every
// node and at the acquirer.
//
// The rules are those of ../shared/FAULTS.md (I1-I8):
//
//   - I1: a 00 the register holds and did not reverse is approved on every
//     node with the same DE38 and amount, in one day and one batch, and
//     approved at the acquirer exactly once (or still owed: a violation at
//     quiescence).
//   - I2: at most one financial effect per identity; repeats get the first
//     answer; the acquirer saw an identity twice, or refused one as a
//     duplicate (94: an old active's original arriving after the new
//     active's repeat), only for a transaction the nodes mark Repeat
//     (resolved through the repeat path).
//   - I3: no phantom on a node or at the acquirer; a decline is approved
//     nowhere; an unknown outcome nets to zero; a request never sent is
//     recorded nowhere. A balance inquiry moves no money: only its
//     answers are checked, never its effect.
//   - I4: every node's totals = the acquirer's = the model's from the history.
//   - I5: same hash at the same applied index; every node at the same index.
//   - I6: at most one leader per term across every node's view.
//   - I7: each identity's history, with the final state of every node and of
//     the acquirer, is linearizable (porcupine).
//   - I8: no clear PAN, track data or PIN block in files at rest (ScanFiles).
//
// Quiescence is part of the verdict: a register queue or a node's SAF queue
// still holding entries, or a transaction still pending, is a violation,
// because the run never showed that what was owed got delivered.
//
// Run is pure: it reads nothing but its Input (only porcupine's search is
// bounded in time; an identity it cannot decide in time is a violation,
// never a pass). Collect never skips a node it cannot read: that is an
// error, not a pass. WaitQuiet waits for quiescence instead of sleeping.
package check
