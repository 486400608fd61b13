package store

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// The store-and-forward (SAF) queue: advices and reversals owed to an
// acquirer. An entry is enqueued by the same command that records the
// outcome that owes it (OpOutcomeSAF), so a transaction can never be left
// unknown, or stood in, without its advice; it leaves the queue only when
// the acquirer's acknowledgement is committed (OpSAFAck). Both commands are
// applied like every other one, so every replica holds the same queue and a
// new active carries on where the old one stopped.

// SAFKind says what an entry owes the acquirer.
type SAFKind uint8

// SAF kinds.
const (
	// SAFReversal: a 0420 for a transaction whose outcome is unknown (the
	// acquirer timed out, or the takeover gave up on it); its
	// acknowledgement marks the transaction reversed.
	SAFReversal SAFKind = 1
	// SAFAdvice: a 0220 telling the acquirer of a stand-in approval.
	SAFAdvice SAFKind = 2
	// SAFCancel: a 0420 taking back the first attempt of a transaction
	// that timed out and was then stood in: the acquirer may have approved
	// that attempt, and the advice stands for the approval. Its
	// acknowledgement changes no status.
	SAFCancel SAFKind = 3
	// SAFForward: the transaction's own message (a register's reversal, a
	// completion, an 0120 advice), which the cluster answered and now owes
	// the acquirer, sent under the transaction's own acquirer identity (as
	// a repeat: an attempt may have reached the acquirer). Its
	// acknowledgement changes no status.
	SAFForward SAFKind = 4
)

func (k SAFKind) String() string {
	switch k {
	case SAFReversal:
		return "reversal"
	case SAFAdvice:
		return "advice"
	case SAFCancel:
		return "cancel"
	case SAFForward:
		return "forward"
	}
	return "saf(" + strconv.Itoa(int(k)) + ")"
}

// SAFEntry is one message owed to an acquirer.
type SAFEntry struct {
	Acquirer string
	Seq      uint64 // per acquirer, from 1, assigned by Apply: the send order
	Kind     SAFKind
	TxnID    string // the transaction it is about
	// The identity of the message at the acquirer (DE11, DE7). A forward
	// and an advice use the transaction's own (an advice is class 0220 at
	// the acquirer, so it does not collide with the 0200, and a later
	// reversal of the stand-in can name it in DE90); a reversal and a
	// cancel get their own STAN from the terminal's sequence (and their
	// DE7 from the OUTCOME's time, when the command leaves it empty), so
	// that a late answer to the original is never taken for the
	// acknowledgement.
	STAN, AcqTime string
	Amount        int64 // the transaction's amount, set by Apply
	CreatedAt     int64 // the OUTCOME's time, set by Apply
}

// SAFAck is the acquirer's acknowledgement of entry Seq of Acquirer.
type SAFAck struct {
	Acquirer string
	Seq      uint64
	At       int64
	// Repeat: what was acknowledged went as a repeat (an earlier attempt
	// may have reached the acquirer). For an entry sent under its
	// transaction's own identity (forward, advice) the transaction then
	// records Txn.Repeat: the acquirer may have seen that identity twice.
	Repeat bool
}

// OutcomeSAFCmd encodes an OUTCOME that owes the acquirer entries (each
// with Acquirer and Kind set; STAN and AcqTime may be left to Apply). Apply
// records the outcome exactly as OutcomeCmd does and, if it was the
// transaction's first answer, enqueues the entries in the same bbolt
// transaction, in order.
func OutcomeSAFCmd(o Outcome, entries ...SAFEntry) []byte {
	b := OutcomeCmd(o)
	b[1] = byte(OpOutcomeSAF)
	w := writer{b: b}
	w.int(int64(len(entries)))
	for _, e := range entries {
		w.str(e.Acquirer)
		w.byte(byte(e.Kind))
		w.str(e.STAN)
		w.str(e.AcqTime)
	}
	return w.b
}

// SAFAckCmd encodes the acknowledgement of an entry. Acknowledging an entry
// that is gone (acknowledged before) changes nothing.
func SAFAckCmd(a SAFAck) []byte {
	w := writer{b: append(make([]byte, 0, 32+len(a.Acquirer)), cmdVersion, byte(OpSAFAck))}
	w.str(a.Acquirer)
	w.int(int64(a.Seq))
	w.int(a.At)
	w.bool(a.Repeat)
	return w.b
}

// maxSAFPerOutcome bounds the entries of one command (a hostile count must
// not allocate much).
const maxSAFPerOutcome = 4

func readSAFRequests(r *reader) []SAFEntry {
	n := r.int()
	if n < 1 || n > maxSAFPerOutcome {
		r.failf("%d saf entries, want 1-%d", n, maxSAFPerOutcome)
		return nil
	}
	out := make([]SAFEntry, n)
	for i := range out {
		out[i] = SAFEntry{Acquirer: r.str(), Kind: SAFKind(r.byte()), STAN: r.str(), AcqTime: r.str()}
	}
	return out
}

func readSAFAck(r *reader) *SAFAck {
	a := &SAFAck{Acquirer: r.str()}
	a.Seq = uint64(r.int())
	a.At = r.int()
	a.Repeat = r.bool()
	return a
}

const safEntryVersion = 1

func appendSAFEntry(b []byte, e *SAFEntry) []byte {
	w := writer{b: b}
	w.byte(safEntryVersion)
	w.str(e.Acquirer)
	w.int(int64(e.Seq))
	w.byte(byte(e.Kind))
	w.str(e.TxnID)
	w.str(e.STAN)
	w.str(e.AcqTime)
	w.int(e.Amount)
	w.int(e.CreatedAt)
	return w.b
}

func decodeSAFEntry(b []byte) (SAFEntry, error) {
	r := reader{b: b}
	if v := r.byte(); v != safEntryVersion && r.err == nil {
		r.failf("saf entry version %d", v)
	}
	e := SAFEntry{Acquirer: r.str()}
	e.Seq = uint64(r.int())
	e.Kind = SAFKind(r.byte())
	e.TxnID, e.STAN, e.AcqTime = r.str(), r.str(), r.str()
	e.Amount, e.CreatedAt = r.int(), r.int()
	return e, r.done()
}

// safKey orders one acquirer's entries by sequence: acquirer|seq as 16 hex
// digits. Acquirer names never contain the separator (validateSAF).
func safKey(acquirer string, seq uint64) []byte {
	return fmt.Appendf(nil, "%s%c%016x", acquirer, indexSep, seq)
}

func validAcquirerName(name string) bool {
	return name != "" && len(name) <= maxKeyField && !strings.ContainsRune(name, indexSep)
}

func validateSAF(e *SAFEntry) error {
	switch {
	case !validAcquirerName(e.Acquirer):
		return fmt.Errorf("%w: saf acquirer %q: want 1-%d bytes without %q", ErrInvalid, e.Acquirer, maxKeyField, indexSep)
	case e.Kind < SAFReversal || e.Kind > SAFForward:
		return fmt.Errorf("%w: saf kind %d", ErrInvalid, e.Kind)
	case (e.STAN != "" && len(e.STAN) != 6) || (e.AcqTime != "" && len(e.AcqTime) != 10):
		return fmt.Errorf("%w: saf identity %q/%q: want a 6-digit STAN and a 10-digit DE7, or none", ErrInvalid, e.STAN, e.AcqTime)
	}
	return nil
}

// owes checks that the outcome o of t may owe an entry of kind k.
func owes(k SAFKind, o *Outcome, t *Txn) error {
	ok := true
	switch k {
	case SAFReversal:
		ok = o.Status == StatusUnknown
	case SAFAdvice, SAFCancel:
		ok = o.Status == StatusApproved && o.StandIn
	case SAFForward:
		ok = o.Status == StatusApproved && (t.Type == TypeReversal || t.Type == TypeCompletion || t.Kind() == wire.KindPreAuthAdvice)
	}
	if !ok {
		return fmt.Errorf("%w: %v owed for %s (%v) whose outcome is %v (stand-in %v)", ErrInvalid, k, o.ID, t.Type, o.Status, o.StandIn)
	}
	return nil
}

// outcomeSAF records o and enqueues entries if o was the transaction's
// first answer: a repeated OUTCOME owes nothing more.
func (a *applier) outcomeSAF(o *Outcome, entries []SAFEntry) (Result, error) {
	before, _, err := a.get(o.ID)
	if err != nil {
		return Result{}, err
	}
	if before == nil {
		return Result{Err: fmt.Errorf("%w: outcome for %s", ErrNotFound, o.ID)}, nil
	}
	for i := range entries {
		if err := validateSAF(&entries[i]); err != nil {
			return Result{Err: err}, nil
		}
		if err := owes(entries[i].Kind, o, before); err != nil {
			return Result{Err: err}, nil
		}
	}
	r, err := a.outcome(o)
	if err != nil || r.Err != nil || before.Status != StatusPending {
		return r, err
	}
	for _, e := range entries {
		e.TxnID = o.ID
		if err := a.enqueue(&e, r.Txn, o.At); err != nil {
			return Result{}, err
		}
		r.SAF = append(r.SAF, e)
		if e.Kind == SAFAdvice {
			if err := a.countStandIn(r.Txn, e.Acquirer); err != nil {
				return Result{}, err
			}
		}
	}
	return r, nil
}

// enqueue appends e, owed for t, to its acquirer's queue with the next
// sequence number, and gives it its acquirer identity.
func (a *applier) enqueue(e *SAFEntry, t *Txn, at int64) error {
	e.Amount, e.CreatedAt = t.Amount, at
	switch {
	case e.Kind == SAFForward || e.Kind == SAFAdvice:
		e.STAN, e.AcqTime = t.AcqSTAN, t.AcqTime
	case e.STAN == "":
		stan, err := a.nextAcqSTAN(t.TerminalID)
		if err != nil {
			return err
		}
		e.STAN = stan
	}
	if e.AcqTime == "" {
		e.AcqTime = de7(at)
	}
	seqs := a.tx.Bucket(bucketSAFSeq)
	var seq uint64
	if v := seqs.Get([]byte(e.Acquirer)); len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	seq++
	e.Seq = seq
	if err := seqs.Put([]byte(e.Acquirer), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return err
	}
	return a.tx.Bucket(bucketSAF).Put(safKey(e.Acquirer, seq), appendSAFEntry(nil, e))
}

// de7 is a DE7 (MMDDhhmmss, UTC) of a leader's time.
func de7(unixNanos int64) string {
	return time.Unix(0, unixNanos).UTC().Format("0102150405")
}

// safAck removes an acknowledged entry. An acknowledged reversal marks its
// transaction reversed (it was unknown: now it provably never counts); an
// acknowledged advice no longer counts against the acquirer's open
// stand-in total; a cancel or a forward changes nothing else.
func (a *applier) safAck(ack *SAFAck) (Result, error) {
	if !validAcquirerName(ack.Acquirer) {
		return Result{Err: fmt.Errorf("%w: saf ack for acquirer %q", ErrInvalid, ack.Acquirer)}, nil
	}
	q := a.tx.Bucket(bucketSAF)
	key := safKey(ack.Acquirer, ack.Seq)
	v := q.Get(key)
	if v == nil {
		return Result{}, nil // acknowledged before
	}
	e, err := decodeSAFEntry(v)
	if err != nil {
		return Result{}, fmt.Errorf("saf entry %s: %w", key, err)
	}
	if err := q.Delete(key); err != nil {
		return Result{}, err
	}
	switch e.Kind {
	case SAFReversal:
		if err := a.reverse(e.TxnID, ack.At, ""); err != nil {
			return Result{}, err
		}
	case SAFAdvice:
		if err := a.addSum(bucketStandInOpen, []byte(e.Acquirer), -1, -e.Amount); err != nil {
			return Result{}, err
		}
	}
	t, seq, err := a.get(e.TxnID)
	if err != nil || t == nil || !ack.Repeat || t.Repeat || (e.Kind != SAFForward && e.Kind != SAFAdvice) {
		return Result{Txn: t}, err
	}
	t.Repeat = true
	return Result{Txn: t}, a.putRecord(t, seq)
}

// countStandIn adds a stand-in approval to its card's day and to its
// acquirer's open total: what the stand-in policy limits.
func (a *applier) countStandIn(t *Txn, acquirer string) error {
	if len(t.PANHash) > 0 {
		if err := a.addSum(bucketStandInCard, standInCardKey(t.Day, t.PANHash), 1, t.Amount); err != nil {
			return err
		}
	}
	return a.addSum(bucketStandInOpen, []byte(acquirer), 1, t.Amount)
}

func standInCardKey(day string, panHash []byte) []byte {
	return append(append([]byte(day), indexSep), panHash...)
}

// addSum adds to a count+amount value; a sum back at zero is deleted, so
// equal histories leave equal files whatever the order of acks.
func (a *applier) addSum(bucket, key []byte, count, amount int64) error {
	b := a.tx.Bucket(bucket)
	s, err := decodeSum(b.Get(key))
	if err != nil {
		return fmt.Errorf("sum %s/%s: %w", bucket, key, err)
	}
	s.Count += count
	s.Amount += amount
	if s.Count == 0 && s.Amount == 0 {
		return b.Delete(key)
	}
	w := writer{}
	w.int(s.Count)
	w.int(s.Amount)
	return b.Put(key, w.b)
}

func decodeSum(v []byte) (Sum, error) {
	if v == nil {
		return Sum{}, nil
	}
	r := reader{b: v}
	s := Sum{Count: r.int(), Amount: r.int()}
	return s, r.done()
}
