// Package sim is an acquirer host simulator: a real ISO 8583 server on TCP
// (the same dialects as tillgate) with a durable ledger, used by tests, the
// demo (`tillgate demo`), the benchmark and the standalone `acqsim`.
//
// # Connections
//
// One goroutine reads each connection; every request is handled in its
// own goroutine after the configured latency (uniform in [Min, Max], plus
// any Fault.ExtraLatency), so answers may leave out of order. Answers on a
// connection are serialized by one writer. A framing error (bad length
// header, empty or oversized frame) closes the connection. A frame that
// does not decode is answered RC 30 when its MTI and STAN can be read,
// else the connection is closed. Nothing a client sends affects other
// connections, and the simulator never panics on input.
//
// # Rules
//
// 0800 (any DE70: sign-on, sign-off, echo) is answered 0810 RC 00 and not
// recorded. 0100 (pre-auth), 0200 (purchase DE3 00xxxx, refund 20xxxx,
// cashback 09xxxx, balance 31xxxx; other codes count as purchase), 0220
// (completion; DE90 names the pre-auth, which is not checked) and their
// repeats (xxx1) are checked in this order, the first match answering:
//
//   - PAN (DE2, else the PAN of DE35) failing Luhn: 14 (no card at all
//     is a format error, 30)
//   - PAN 4000000000000002: 05 (do not honour)
//   - PAN 4000000000000069, or an expiry (DE14, or DE35's) before the
//     current UTC month: 54
//   - amount 0 (not for a balance inquiry): 13
//   - amount ending in 51 (Amount%100 == 51): 51
//   - otherwise 00 with a 6-digit auth code derived from the identity
//
// 0400 and 0420 (and repeats) are reversals, always answered 00: DE90
// names the original (MTI 4 + STAN 6 + DE7 10 + ...), looked up by DE41 +
// that STAN + that DE7 in the class of that MTI. An approved original is
// marked reversed (it drops out of Totals); a declined or already reversed
// one is left alone; an unknown one gets a tombstone, so that if the
// original arrives later it is answered by the rules as usual but stored
// as already reversed (it nets to zero). Reversals are full reversals:
// their DE4 is not compared with the original's.
//
// An 0220 whose DE90 names an 0200 is a stand-in advice ("approved on
// your behalf", DE38 the client's auth code): it is recorded on the
// original's identity, approving it unless it is already approved (then it
// is a duplicate) or was reversed first (then it stays reversed), and is
// always answered 0230 00.
//
// Other requests (0120, 0500, ...) and requests missing a mandatory field
// (wire.ValidateRequest) are answered 30 and not recorded. Messages that
// are not requests (responses) are ignored.
//
// # Identity and duplicates
//
// A transaction's identity is DE41 + DE11 + DE7 within a message class:
// 0100, 0200, 0220, and 0400 (with 0420), a repeat counting as its
// original. A request whose identity is already in the ledger (a repeat,
// or the same MTI again) gets the recorded answer (same DE38, DE39, DE37)
// and changes nothing; it is counted in Stats.Duplicates.
//
// # Answers
//
// An answer echoes DE3, DE4, DE7, DE11, DE41, DE42, DE49, DE90 (and DE70
// for 08xx), DE37 (the request's RRN, or one assigned from the identity),
// and carries DE38 (approvals) and DE39. It never carries DE2, DE35, DE52
// or DE55.
//
// # Ledger
//
// DataDir/sim.db (bbolt) holds one record per identity: class, kind,
// amount, RC, auth code, RRN, UTC day of receipt, reversed flag and the
// day of the reversal; never card data. A record is committed (db.Batch:
// concurrent requests share one commit) before its answer is written, so
// an answer the simulator gave survives a crash and a restart. Totals and
// TotalsByDay read it; `acqsim totals` reads it without a running server.
// Each record keeps when it was received (and when its reversal was), so
// that Settlement exports the acquirer's settlement file of a time window
// (WriteSettlementCSV; docs/settlement.md), the same bytes whenever it is
// asked for.
//
// # Faults
//
// SetFault changes the behaviour at run time (acqsim: PUT /fault, `acqsim
// fault`): Down closes every connection and refuses new ones;
// ExtraLatency delays every answer before it is decided; DropAnswers and
// DropPercent record requests but lose (all, or that share of) their
// answers; Late records at once and holds the answer, so that it arrives
// after a client's timeout; Duplicate sends every answer twice.
// Disconnect closes every open connection once.
package sim
