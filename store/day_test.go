package store

import (
	"context"
	"errors"
	"testing"
)

const testNextDay = "20251123"

func mustDay(tb testing.TB, s *Store, day string) *Day {
	tb.Helper()
	d, err := s.Day(day)
	if err != nil || d == nil {
		tb.Fatalf("day %s: %v %v", day, d, err)
	}
	return d
}

// A transaction belongs to the day open when its INTENT is applied, also
// when its OUTCOME comes after the cutover; the cutover happens once.
func TestCutoverInFlightAndOnce(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.txn(newTxn(t, v, 1, TypePurchase, 100), StatusApproved)
	inFlight := newTxn(t, v, 2, TypePurchase, 200)
	l.ok(IntentCmd(inFlight))
	cutIndex := l.next
	if r := l.apply(CutoverCmd(testDay, testNextDay, BySchedule, testEpoch+10)); r.Err != nil || r.Day.Day != testNextDay {
		t.Fatalf("cutover: %+v", r)
	}
	l.ok(OutcomeCmd(Outcome{ID: inFlight.ID, Status: StatusApproved, RC: "00", AuthCode: "A", StandIn: false, At: testEpoch + 11}))
	after := l.txn(newTxn(t, v, 3, TypePurchase, 300), StatusApproved)
	if got := mustGet(t, s, inFlight.ID).Day; got != testDay {
		t.Fatalf("in-flight transaction in day %s, want %s", got, testDay)
	}
	if after.Day != testNextDay {
		t.Fatalf("later transaction in day %s, want %s", after.Day, testNextDay)
	}
	d := mustDay(t, s, testDay)
	if d.Status != DayClosing || d.CutoverIndex != cutIndex || d.ClosedBy != BySchedule || d.ClosedAt != testEpoch+10 {
		t.Fatalf("closed day: %+v", d)
	}
	// A second cutover of the same day (a new active's scheduler, an
	// operator pressing twice) changes nothing.
	r := l.apply(CutoverCmd(testDay, "20251124", ByOperator, testEpoch+20))
	if !errors.Is(r.Err, ErrStaleDay) {
		t.Fatalf("second cutover: %v, want ErrStaleDay", r.Err)
	}
	if open, _ := s.OpenDay(); open != testNextDay {
		t.Fatalf("open day %s after a repeated cutover", open)
	}
	if got := mustDay(t, s, testDay); got.CutoverIndex != cutIndex || got.ClosedBy != BySchedule {
		t.Fatalf("repeated cutover changed the closed day: %+v", got)
	}
}

func TestCutoverRefusesBackwards(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.ok(CutoverCmd("", testNextDay, ByOperator, testEpoch))
	for _, c := range [][]byte{
		CutoverCmd(testNextDay, testDay, BySchedule, testEpoch),
		CutoverCmd(testNextDay, testNextDay, BySchedule, testEpoch),
		CutoverCmd(testNextDay, "2025-11-24", BySchedule, testEpoch),
	} {
		if r := l.apply(c); !errors.Is(r.Err, ErrInvalid) {
			t.Fatalf("cutover %x: %v, want ErrInvalid", c, r.Err)
		}
	}
	if open, _ := s.OpenDay(); open != testNextDay {
		t.Fatalf("open day %s", open)
	}
}

// A day settles only when nothing of it is pending; after that its
// approvals and unknowns stay as they are, so its files cannot change.
func TestSettleWaitsAndFreezes(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	approved := l.txn(newTxn(t, v, 1, TypePurchase, 100), StatusApproved)
	unknown := newTxn(t, v, 2, TypePurchase, 200)
	l.ok(IntentCmd(unknown))
	l.ok(CutoverCmd(testDay, testNextDay, BySchedule, testEpoch+10))
	if r := l.apply(SettleCmd(testDay, testEpoch+11)); !errors.Is(r.Err, ErrDayBusy) {
		t.Fatalf("settle with a pending transaction: %v, want ErrDayBusy", r.Err)
	}
	if r := l.apply(DayFileCmd(testDay, DayFile{Acquirer: "acq1"})); !errors.Is(r.Err, ErrDayBusy) {
		t.Fatalf("file before settle: %v, want ErrDayBusy", r.Err)
	}
	cut := mustDay(t, s, testDay).CutoverIndex
	if busy, err := s.PendingBefore(cut); !busy || err != nil {
		t.Fatalf("PendingBefore(%d) with a pending transaction: %v %v", cut, busy, err)
	}
	l.ok(OutcomeCmd(Outcome{ID: unknown.ID, Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: testEpoch + 12}))
	if busy, _ := s.PendingBefore(cut); busy {
		t.Fatal("PendingBefore after the last outcome: still busy")
	}
	if r := l.apply(SettleCmd(testDay, testEpoch+13)); r.Err != nil || r.Day.Status != DaySettled {
		t.Fatalf("settle: %+v", r)
	}
	// A reversal in the next day of the settled approval: the approval
	// stays (the reversal settles in its own day).
	l.txn(linkedTxn(t, v, 3, TypeReversal, 100, 1), StatusApproved)
	if got := mustGet(t, s, approved.ID); got.Status != StatusApproved {
		t.Fatalf("settled approval became %v", got.Status)
	}
	// A late answer to the settled unknown is ignored.
	l.ok(OutcomeCmd(Outcome{ID: unknown.ID, Status: StatusApproved, RC: "00", AuthCode: "LATE", StandIn: false, At: testEpoch + 20}))
	if got := mustGet(t, s, unknown.ID); got.Status != StatusUnknown {
		t.Fatalf("settled unknown became %v", got.Status)
	}
	if r := l.apply(SettleCmd(testDay, testEpoch+21)); r.Err != nil || r.Day.SettledAt != testEpoch+13 {
		t.Fatalf("second settle: %+v", r)
	}
}

func TestDayFileRecordedOnce(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.ok(CutoverCmd("", testDay, ByOperator, testEpoch))
	l.ok(CutoverCmd(testDay, testNextDay, ByOperator, testEpoch+1))
	l.ok(SettleCmd(testDay, testEpoch+2))
	f := DayFile{Acquirer: "acq1", CSVSHA256: "aa", JSONSHA256: "bb", Rows: 3, Net: 500, At: testEpoch + 3}
	if r := l.apply(DayFileCmd(testDay, f)); r.Err != nil || len(r.Day.Files) != 1 || r.Existed {
		t.Fatalf("file: %+v", r)
	}
	again := f
	again.At++
	if r := l.apply(DayFileCmd(testDay, again)); r.Err != nil || !r.Existed {
		t.Fatalf("same file again: %+v", r)
	}
	other := f
	other.CSVSHA256 = "cc"
	if r := l.apply(DayFileCmd(testDay, other)); !errors.Is(r.Err, ErrMismatch) {
		t.Fatalf("other checksum: %v, want ErrMismatch", r.Err)
	}
	l.ok(DayReconciledCmd(testDay, Reconciliation{Acquirer: "acq1", Discrepancies: 2, At: 1}))
	l.ok(DayReconciledCmd(testDay, Reconciliation{Acquirer: "acq1", Reconciled: true, At: 2}))
	d := mustDay(t, s, testDay)
	if got, ok := d.File("acq1"); !ok || got != f || len(d.Recons) != 1 || !d.Recons[0].Reconciled {
		t.Fatalf("day: %+v", d)
	}
}

// EachInDay reads a day in chunks: every transaction once, in seq order,
// across the chunk boundary; a cancelled context stops it.
func TestEachInDayChunks(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	const n = dayChunk + 7
	var idx []uint64
	var cmds [][]byte
	for i := 1; i <= n; i++ {
		idx, cmds = append(idx, uint64(i)), append(cmds, IntentCmd(newTxn(t, v, i, TypePurchase, 100)))
	}
	for _, r := range s.ApplyBatch(idx, cmds) {
		if r := r.(Result); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	var seen []uint64
	err := s.EachInDay(context.Background(), testDay, func(dt DayTxn) error {
		seen = append(seen, dt.Seq)
		return nil
	})
	if err != nil || len(seen) != n {
		t.Fatalf("%d of %d transactions, %v", len(seen), n, err)
	}
	for i, seq := range seen {
		if seq != uint64(i+1) {
			t.Fatalf("transaction %d has seq %d", i, seq)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err = s.EachInDay(ctx, testDay, func(DayTxn) error {
		if calls++; calls == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != dayChunk {
		t.Fatalf("cancelled walk: %v after %d calls, want context.Canceled after the first chunk (%d)", err, calls, dayChunk)
	}
}
