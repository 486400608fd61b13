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
// recorded. 0100 (pre-auth) and 0200 (purchase DE3 00xxxx, refund 20xxxx,
// cashback 09xxxx, balance 31xxxx; other codes count as purchase) and
// their repeats (xxx1) are checked in this order, the first match
// answering:
//
//   - PAN (DE2, else the PAN of DE35) failing Luhn: 14 (no card at all
//     is a format error, 30)
//   - PAN 4000000000000002: 05 (do not honour)
//   - PAN 4000000000000069, or an expiry (DE14, or DE35's) before the
//     current UTC month: 54
//   - a card verification code (DE48 tag CV, sent with card-not-present
//     payments) of "000": N7 (decline for CVV2 failure); a request without
//     one is not checked
//   - amount 0 (not for a balance inquiry): 13
//   - amount ending in 51 (Amount%100 == 51): 51
//   - with Config.ACS: a card-not-present authorization (DE25 59, a
//     purchase or a pre-auth) of a card in the ACS's challenge ranges
//     without an authentication value (DE48 tag AV, with EC "05") the ACS
//     issued for that card and amount when its challenge passed, or with
//     one another authorization used: 1A (additional customer
//     authentication required)
//   - otherwise 00 with a 6-digit auth code derived from the identity
//
// A completion (0220 whose DE90 names a pre-auth) is not judged again: the
// pre-auth reserved the money, and a real host takes the completion as an
// advice (00, an auth code derived from the identity). A strict host
// refuses one naming a pre-auth it does not know (25, below).
//
// 0400 and 0420 (and repeats) are reversals, answered 00: DE90 names the
// original (MTI 4 + STAN 6 + DE7 10 + ...), looked up by DE41 + that STAN
// + that DE7 in the class of that MTI, exactly: a reversal cancels the
// record it names and no other. An approved original is marked reversed
// (it drops out of Totals); a declined or already reversed one is left
// alone; an unknown one gets a tombstone (lenient host), so that if the
// original arrives later it is answered by the rules as usual but stored
// as already reversed (it nets to zero). Reversals are full reversals:
// their DE4 is not compared with the original's.
//
// Advices report an approval the client already gave; the card rules do
// not apply, the answer is 00 with the advice's DE38 (or an auth code
// made here when it has none), and the advice is booked under its own
// identity, never merged into the original's record:
//
//   - an 0220 whose DE90 names an 0200 is a stand-in advice ("approved
//     on your behalf"): a record of class 0220 with the kind of its DE3
//     (purchase, refund, ...), stand-in, its original the 0200 named. The
//     0200's own record, if the host has one (approved, declined or
//     reversed), is left as it is: if the host approved it too, that is
//     two approvals, and the client must reverse its attempt (an 0420
//     naming the 0200) to net it to one;
//   - an 0120 is an authorization advice: a record of class 0120, kind
//     preauth, stand-in when DE48 carries the SI tag, its original the
//     transaction DE90 names if it has one. Answered 0130 00.
//
// Other requests (0320, 0500, ...) and requests missing a mandatory field
// (wire.ValidateRequest) are answered 30 and not recorded. Messages that
// are not requests (responses) are ignored.
//
// # Identity and duplicates
//
// A transaction's identity is DE41 + DE11 + DE7 within a message class:
// 0100, 0120, 0200, 0220, and 0400 (with 0420), a repeat counting as its
// original. A request whose identity is already in the ledger (a repeat,
// or the same MTI again) gets the recorded answer (same DE38, DE39, DE37),
// changes nothing and is counted on its record and in Stats.Duplicates.
//
// # Strict mode
//
// Config.Strict (acqsim serve --strict) makes the host as strict as a
// real one, so that tests see what a real host would do to the client:
//
//   - Duplicate transmissions: an original MTI (xx00) of an identity the
//     host received within StrictConfig.DupWindow is answered 94 and has
//     no effect (counted on the record as refused); a repeat (xx01) gets
//     the recorded answer. An identity older than the window is new again
//     (the host processes it a second time); its old record is kept under
//     the key + "~" + its receipt time.
//   - STAN reuse: a new identity whose DE41 + DE11 the host already saw
//     the same UTC day with another DE7, in any class, is answered 94; the
//     refusal is booked under the refused identity (RC 94, refused 1, no
//     effect), and its repeats are refused too.
//   - Unknown originals: a reversal (0400/0420) or a completion naming an
//     original the host does not have is answered 25 and forgotten:
//     nothing is stored, no tombstone waits for the original (which,
//     arriving later, is an ordinary approval). A stand-in advice is never
//     refused: its original is usually one the host never saw.
//   - Host echoes: the host sends its own 0800 (DE70 301, its own DE11,
//     DE7) on every connection every StrictConfig.EchoEvery and closes a
//     connection that has not answered it (0810) within EchoTimeout.
//
// Stats counts the refusals (Refused, STANReuse), the 25s
// (UnknownOriginal), the echoes sent and the connections closed for
// leaving one unanswered (HostEchoes, HostEchoTimeouts).
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
// day of the reversal, the original named, the advice and stand-in flags,
// and how often the identity was asked (requests processed, of them
// repeats, and frames refused 94); never card data. A record is committed
// and fsync'd (the requests queued meanwhile share one commit) before its
// answer is written, so an answer the simulator gave survives a crash and
// a restart; counting a repeat is a write in the same shared commit. Ledger
// exports every record (acqsim: GET /ledger, see LedgerRecord), declines
// and tombstones included, for a checker. Totals and TotalsByDay read it
// (advices count as approvals); `acqsim totals` reads it without a
// running server. Each record keeps when it was received (and when its
// reversal was), so that Settlement exports the acquirer's settlement file
// of a time window (WriteSettlementCSV; docs/settlement.md), the same
// bytes whenever it is asked for.
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
