package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func TestIntentRecordsPending(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	in := newTxn(t, v, 1, TypePurchase, 1234)
	in.Status, in.Day = StatusApproved, "19990101" // Apply sets these itself
	r := newLog(t, s).apply(IntentCmd(in))
	if r.Err != nil || r.Existed {
		t.Fatalf("intent: %+v", r)
	}
	want := *newTxn(t, v, 1, TypePurchase, 1234)
	want.PANEnc, want.PANHash = in.PANEnc, in.PANHash
	want.Status, want.Day, want.UpdatedAt, want.Batch = StatusPending, testDay, want.CreatedAt, 1
	if !reflect.DeepEqual(r.Txn, &want) {
		t.Fatalf("result\n got %+v\nwant %+v", r.Txn, &want)
	}
	if got := mustGet(t, s, want.ID); !reflect.DeepEqual(got, &want) {
		t.Fatalf("stored\n got %+v\nwant %+v", got, &want)
	}
	// The Result is the caller's copy: changing it changes nothing stored.
	r.Txn.Amount = 1
	if got := mustGet(t, s, want.ID); got.Amount != 1234 {
		t.Fatalf("stored amount %d after the caller changed its copy", got.Amount)
	}
	if s.AppliedIndex() != 1 {
		t.Fatalf("applied index %d, want 1", s.AppliedIndex())
	}
}

func TestIntentTwiceReturnsExisting(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	stored := l.txn(newTxn(t, v, 1, TypePurchase, 1000), StatusApproved)

	again := newTxn(t, v, 1, TypePurchase, 999) // same identity, other content
	r := l.apply(IntentCmd(again))
	if r.Err != nil || !r.Existed || !reflect.DeepEqual(r.Txn, stored) {
		t.Fatalf("second intent: %+v, want Existed and the stored %+v", r, stored)
	}
	if got := mustGet(t, s, idOf(1)); !reflect.DeepEqual(got, stored) {
		t.Fatalf("stored transaction changed to %+v", got)
	}
	if p, err := s.Pending(); len(p) != 0 || err != nil {
		t.Fatalf("pending %v, %v", p, err)
	}
}

func TestOutcome(t *testing.T) {
	v := mustVault(t)
	tests := []struct {
		name    string
		first   Status // outcome already recorded; 0: none
		outcome []byte
		wantErr error
		want    Status
		wantRC  string
	}{
		{"approve pending", 0, OutcomeCmd(Outcome{ID: idOf(1), Status: StatusApproved, RC: "00", AuthCode: "123456", StandIn: false, At: 5}), nil, StatusApproved, "00"},
		{"decline pending", 0, OutcomeCmd(Outcome{ID: idOf(1), Status: StatusDeclined, RC: "51", AuthCode: "", StandIn: false, At: 5}), nil, StatusDeclined, "51"},
		{"unknown pending", 0, OutcomeCmd(Outcome{ID: idOf(1), Status: StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: 5}), nil, StatusUnknown, "91"},
		{"resolve unknown", StatusUnknown, OutcomeCmd(Outcome{ID: idOf(1), Status: StatusApproved, RC: "00", AuthCode: "123456", StandIn: false, At: 5}), nil, StatusApproved, "00"},
		{"same again is a no-op", StatusApproved, OutcomeCmd(Outcome{ID: idOf(1), Status: StatusApproved, RC: "00", AuthCode: "AUTH01", StandIn: false, At: 9}), nil, StatusApproved, "00"},
		{"final keeps first answer", StatusApproved, OutcomeCmd(Outcome{ID: idOf(1), Status: StatusDeclined, RC: "05", AuthCode: "", StandIn: false, At: 9}), nil, StatusApproved, "00"},
		{"declined keeps first answer", StatusDeclined, OutcomeCmd(Outcome{ID: idOf(1), Status: StatusApproved, RC: "00", AuthCode: "", StandIn: false, At: 9}), nil, StatusDeclined, "05"},
		{"unknown id", 0, OutcomeCmd(Outcome{ID: idOf(2), Status: StatusApproved, RC: "00", AuthCode: "", StandIn: false, At: 5}), ErrNotFound, StatusPending, ""},
		{"pending is no outcome", 0, OutcomeCmd(Outcome{ID: idOf(1), Status: StatusPending, RC: "", AuthCode: "", StandIn: false, At: 5}), ErrInvalid, StatusPending, ""},
		{"status out of range", 0, OutcomeCmd(Outcome{ID: idOf(1), Status: Status(77), RC: "", AuthCode: "", StandIn: false, At: 5}), ErrInvalid, StatusPending, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, true)
			l := newLog(t, s)
			if tc.first == 0 {
				l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 100)))
			} else {
				l.txn(newTxn(t, v, 1, TypePurchase, 100), tc.first)
			}
			before := mustGet(t, s, idOf(1))
			r := l.apply(tc.outcome)
			if !errors.Is(r.Err, tc.wantErr) || (tc.wantErr == nil) != (r.Txn != nil) {
				t.Fatalf("result %+v, want error %v", r, tc.wantErr)
			}
			got := mustGet(t, s, idOf(1))
			if got.Status != tc.want || got.RC != tc.wantRC {
				t.Fatalf("stored %v/%q, want %v/%q", got.Status, got.RC, tc.want, tc.wantRC)
			}
			if r.Txn != nil && !reflect.DeepEqual(r.Txn, got) {
				t.Fatalf("result %+v differs from stored %+v", r.Txn, got)
			}
			if tc.wantErr != nil || (tc.first != 0 && !tc.first.open()) {
				if !reflect.DeepEqual(got, before) {
					t.Fatalf("record changed:\n got %+v\nwant %+v", got, before)
				}
			}
			pending, err := s.Pending()
			if err != nil || (len(pending) == 1) != (tc.want == StatusPending) {
				t.Fatalf("pending %d, %v with status %v", len(pending), err, tc.want)
			}
		})
	}
}

func TestOutcomeRecordsAllFields(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 100)))
	got := l.ok(OutcomeCmd(Outcome{ID: idOf(1), Status: StatusApproved, RC: "00", AuthCode: "654321", StandIn: true, At: testEpoch + 42}))
	if got.Status != StatusApproved || got.RC != "00" || got.AuthCode != "654321" || !got.StandIn ||
		got.UpdatedAt != testEpoch+42 || got.CreatedAt != testEpoch+1 {
		t.Fatalf("outcome fields: %+v", got)
	}
}

func TestReversal(t *testing.T) {
	v := mustVault(t)
	tests := []struct {
		name     string
		orig     Status // 0: the original is not stored
		reversal Status
		want     Status
	}{
		{"approved reversal of an approval", StatusApproved, StatusApproved, StatusReversed},
		{"approved reversal of an unknown", StatusUnknown, StatusApproved, StatusReversed},
		{"declined reversal", StatusApproved, StatusDeclined, StatusApproved},
		{"unknown reversal", StatusApproved, StatusUnknown, StatusApproved},
		{"reversal of a decline", StatusDeclined, StatusApproved, StatusDeclined},
		{"reversal of a pending", StatusPending, StatusApproved, StatusPending},
		{"reversal of nothing", 0, StatusApproved, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, true)
			l := newLog(t, s)
			switch tc.orig {
			case 0:
			case StatusPending:
				l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 500)))
			default:
				l.txn(newTxn(t, v, 1, TypePurchase, 500), tc.orig)
			}
			rev := l.txn(linkedTxn(t, v, 2, TypeReversal, 500, 1), tc.reversal)
			if rev.Status != tc.reversal {
				t.Fatalf("reversal status %v", rev.Status)
			}
			orig, ok, err := s.Get(idOf(1))
			if err != nil || ok != (tc.orig != 0) {
				t.Fatalf("original: found %v, %v", ok, err)
			}
			if ok && orig.Status != tc.want {
				t.Fatalf("original %v, want %v", orig.Status, tc.want)
			}
			if ok && tc.want == StatusReversed && orig.UpdatedAt != rev.UpdatedAt {
				t.Fatalf("original updated at %d, want the reversal's %d", orig.UpdatedAt, rev.UpdatedAt)
			}
			tot, err := s.Totals()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]Sum{}
			if tc.want == StatusApproved {
				want["purchase"] = Sum{1, 500}
			}
			if !reflect.DeepEqual(tot.Net, want) {
				t.Fatalf("totals %v, want %v", tot.Net, want)
			}
		})
	}
}

func TestTotalsExact(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	if tot, err := s.Totals(); err != nil || tot.Net == nil || len(tot.Net) != 0 {
		t.Fatalf("empty store totals %v, %v", tot.Net, err)
	}
	l.txn(newTxn(t, v, 1, TypePurchase, 1000), StatusApproved)
	l.txn(newTxn(t, v, 2, TypePurchase, 2500), StatusApproved)
	l.txn(newTxn(t, v, 3, TypePurchase, 700), StatusDeclined)
	l.txn(newTxn(t, v, 4, TypeRefund, 300), StatusApproved)
	l.txn(newTxn(t, v, 5, TypeCashback, 5000), StatusApproved)
	l.txn(newTxn(t, v, 6, TypeBalance, 0), StatusApproved)
	l.txn(newTxn(t, v, 7, TypePreAuth, 8000), StatusApproved)
	l.txn(linkedTxn(t, v, 8, TypeCompletion, 7500, 7), StatusApproved)
	l.txn(newTxn(t, v, 9, TypePurchase, 999), StatusUnknown)
	l.txn(linkedTxn(t, v, 10, TypeReversal, 2500, 2), StatusApproved)
	l.txn(linkedTxn(t, v, 11, TypeReversal, 700, 3), StatusApproved)
	l.txn(linkedTxn(t, v, 12, TypeReversal, 999, 9), StatusApproved)
	l.ok(IntentCmd(newTxn(t, v, 13, TypePurchase, 123)))
	l.txn(newTxn(t, v, 14, TypePurchase, 40), StatusApproved)
	l.txn(newTxn(t, v, 15, TypeRefund, 60), StatusDeclined)

	tot, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Sum{
		"purchase":   {2, 1040},
		"refund":     {1, 300},
		"cashback":   {1, 5000},
		"preauth":    {1, 8000},
		"completion": {1, 7500},
	}
	if !reflect.DeepEqual(tot.Net, want) {
		t.Fatalf("totals\n got %v\nwant %v", tot.Net, want)
	}
}

func TestInvalidIntentsChangeNothing(t *testing.T) {
	v := mustVault(t)
	long := string(bytes.Repeat([]byte{'9'}, maxKeyField+1))
	tests := []struct {
		name string
		edit func(*Txn)
	}{
		{"no type", func(x *Txn) { x.Type = 0 }},
		{"echo", func(x *Txn) { x.Type = TypeEcho }},
		{"type out of range", func(x *Txn) { x.Type = 200 }},
		{"no id", func(x *Txn) { x.ID = "" }},
		{"id not terminal+stan+de7", func(x *Txn) { x.ID = testTerminal + "999999" + testDE7 }},
		{"id from other fields", func(x *Txn) { x.STAN = "000002" }},
		{"huge id", func(x *Txn) { x.STAN = long; x.ID = x.TerminalID + x.STAN + x.TransmissionTime }},
		{"huge rrn", func(x *Txn) { x.RRN = long }},
		{"huge merchant", func(x *Txn) { x.MerchantID = long }},
		{"huge original", func(x *Txn) { x.OriginalID = long }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, true)
			empty := mustHash(t, s)
			in := newTxn(t, v, 1, TypePurchase, 100)
			tc.edit(in)
			res := s.ApplyBatch([]uint64{1}, [][]byte{IntentCmd(in)})
			if r := res[0].(Result); !errors.Is(r.Err, ErrInvalid) || r.Txn != nil {
				t.Fatalf("result %+v, want ErrInvalid", r)
			}
			// Only the applied index moved: compare with a store that got a
			// configuration entry at index 1.
			ref := mustOpen(t, true)
			ref.ApplyBatch([]uint64{1}, [][]byte{nil})
			if got := mustHash(t, s); !bytes.Equal(got, mustHash(t, ref)) || bytes.Equal(got, empty) {
				t.Fatal("a refused intent changed the state")
			}
		})
	}
}

func TestApplyBatchEntries(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	intent := IntentCmd(newTxn(t, v, 1, TypePurchase, 100))
	res := s.ApplyBatch(
		[]uint64{5, 6, 6, 7, 8, 9},
		[][]byte{intent, nil, intent, {cmdVersion, 99, 0}, {}, {cmdVersion + 1, 1}},
	)
	if r := res[0].(Result); r.Err != nil || r.Existed {
		t.Fatalf("entry 5: %+v", r)
	}
	if res[1] != nil || res[2] != nil {
		t.Fatalf("configuration entry and repeated index: %v %v, want nil nil", res[1], res[2])
	}
	for i, want := range map[int]error{3: ErrUnknownOp, 4: ErrCorrupt, 5: ErrUnknownOp} {
		if r := res[i].(Result); !errors.Is(r.Err, want) || r.Txn != nil {
			t.Fatalf("entry %d: %+v, want %v", i, r, want)
		}
	}
	if s.AppliedIndex() != 9 {
		t.Fatalf("applied %d, want 9", s.AppliedIndex())
	}
	// Entries at or below the applied index are skipped, the rest applied.
	res = s.ApplyBatch([]uint64{8, 9, 10}, [][]byte{intent, intent, intent})
	if res[0] != nil || res[1] != nil || !res[2].(Result).Existed {
		t.Fatalf("replayed batch: %v", res)
	}
	// A malformed batch applies nothing.
	res = s.ApplyBatch([]uint64{11}, [][]byte{intent, nil})
	if len(res) != 2 || !errors.Is(res[0].(Result).Err, ErrInvalid) || res[1] != nil || s.AppliedIndex() != 10 {
		t.Fatalf("mismatched batch: %v, applied %d", res, s.AppliedIndex())
	}
	if res := s.ApplyBatch(nil, nil); len(res) != 0 || s.AppliedIndex() != 10 {
		t.Fatalf("empty batch: %v", res)
	}
}

func TestBusinessDay(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	first := newTxn(t, v, 1, TypePurchase, 100)
	first.CreatedAt = time.Date(2025, 11, 22, 23, 59, 59, 0, time.FixedZone("CET", 3600)).UnixNano() // 22:59:59 UTC
	if got := l.ok(IntentCmd(first)); got.Day != "20251122" {
		t.Fatalf("first day %s, want the UTC day 20251122", got.Day)
	}
	// The open day holds until a cutover, whatever the clock says.
	later := newTxn(t, v, 2, TypePurchase, 100)
	later.CreatedAt = time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC).UnixNano()
	if got := l.ok(IntentCmd(later)); got.Day != "20251122" {
		t.Fatalf("second day %s, want the open day 20251122", got.Day)
	}
}

func TestRestartSkipsApplied(t *testing.T) {
	v := mustVault(t)
	idx, cmds := randomLog(t, v, 1, 300)
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.ApplyBatch(idx, cmds)
	before := mustHash(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := s.Get(idOf(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("get on a closed store: %v", err)
	}

	s = mustOpenPath(t, path, false)
	if s.AppliedIndex() != idx[len(idx)-1] {
		t.Fatalf("applied index after restart %d, want %d", s.AppliedIndex(), idx[len(idx)-1])
	}
	// Raft replays the entries after its last snapshot: none may apply twice.
	for i := 0; i < len(cmds); i += 50 {
		j := min(i+50, len(cmds))
		for k, r := range s.ApplyBatch(idx[i:j], cmds[i:j]) {
			if r != nil {
				t.Fatalf("entry %d applied again: %+v", idx[i+k], r)
			}
		}
	}
	if !bytes.Equal(before, mustHash(t, s)) {
		t.Fatal("replaying applied entries changed the state")
	}
	r := s.ApplyBatch([]uint64{idx[len(idx)-1] + 1}, [][]byte{IntentCmd(newTxn(t, v, 5000, TypePurchase, 1))})
	if res := r[0].(Result); res.Err != nil || res.Existed {
		t.Fatalf("first new entry after restart: %+v", res)
	}
}

func TestSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	mustOpenPath(t, path, true)
	_, err := Open(path, Options{NoSync: true})
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second open: %v, want a timeout", err)
	}
}

func TestSchemaVersionChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpenPath(t, path, true)
	s.mu.RLock()
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchema, []byte("999")) })
	s.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{NoSync: true}); err == nil {
		t.Fatal("a file of another schema version opened")
	}
}

func TestFailedStoreRefusesWork(t *testing.T) {
	v := mustVault(t)
	s := mustOpen(t, true)
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 100)))
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	s.fail(errors.New("disk on fire"))

	res := s.ApplyBatch([]uint64{2, 3}, [][]byte{IntentCmd(newTxn(t, v, 2, TypePurchase, 1)), nil})
	if r := res[0].(Result); !errors.Is(r.Err, ErrFailed) || res[1] != nil || s.AppliedIndex() != 1 {
		t.Fatalf("batch on a failed store: %v, applied %d", res, s.AppliedIndex())
	}
	if _, err := s.Snapshot(); !errors.Is(err, ErrFailed) {
		t.Fatalf("snapshot of a failed store: %v", err)
	}
	if _, ok, err := s.Get(idOf(1)); !ok || err != nil {
		t.Fatalf("reads still work: %v %v", ok, err)
	}
	// Restoring a snapshot replaces the state, and the store works again.
	if err := s.Restore(snap); err != nil {
		t.Fatal(err)
	}
	res = s.ApplyBatch([]uint64{2}, [][]byte{IntentCmd(newTxn(t, v, 2, TypePurchase, 1))})
	if r := res[0].(Result); r.Err != nil {
		t.Fatalf("after restore: %+v", r)
	}
}

// TestStorageFailureStopsStore: a batch that cannot be committed (here a
// bucket removed underneath, which makes bbolt panic) rolls back whole and
// stops the store instead of panicking or carrying on without it.
func TestStorageFailureStopsStore(t *testing.T) {
	v := mustVault(t)
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpenPath(t, path, false)
	l := newLog(t, s)
	l.ok(IntentCmd(newTxn(t, v, 1, TypePurchase, 100)))
	s.mu.RLock()
	err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketDay) })
	s.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	before := mustHash(t, s)

	res := s.ApplyBatch([]uint64{2, 3}, [][]byte{OutcomeCmd(Outcome{ID: idOf(1), Status: StatusApproved, RC: "00", AuthCode: "", StandIn: false, At: 1}), IntentCmd(newTxn(t, v, 2, TypePurchase, 1))})
	for i, r := range res {
		if r := r.(Result); !errors.Is(r.Err, ErrFailed) || r.Txn != nil {
			t.Fatalf("entry %d: %+v, want ErrFailed", i, r)
		}
	}
	if s.AppliedIndex() != 1 || !bytes.Equal(mustHash(t, s), before) {
		t.Fatalf("a failed batch left changes (applied %d)", s.AppliedIndex())
	}
	// Later batches are refused too, even ones that would commit; entries
	// applied before still answer nil.
	if res := s.ApplyBatch([]uint64{1}, [][]byte{IntentCmd(newTxn(t, v, 1, TypePurchase, 100))}); res[0] != nil {
		t.Fatalf("replayed entry on a failed store: %v", res[0])
	}
	if r := s.ApplyBatch([]uint64{4}, [][]byte{OutcomeCmd(Outcome{ID: idOf(1), Status: StatusDeclined, RC: "05", AuthCode: "", StandIn: false, At: 1})})[0].(Result); !errors.Is(r.Err, ErrFailed) {
		t.Fatalf("after the failure: %+v", r)
	}
	if got := mustGet(t, s, idOf(1)); got.Status != StatusPending {
		t.Fatalf("status %v after refused batches", got.Status)
	}
}

// randomLog is a deterministic log of n entries drawn from seed: new
// intents of every type, duplicate intents, outcomes (also repeated,
// conflicting and for unknown ids), reversals and completions of earlier
// transactions, garbage and configuration entries.
func randomLog(tb testing.TB, v *Vault, seed uint64, n int) (indexes []uint64, cmds [][]byte) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	types := []TxnType{TypePurchase, TypePurchase, TypePurchase, TypeRefund, TypeCashback, TypeBalance, TypePreAuth}
	statuses := []Status{StatusApproved, StatusApproved, StatusApproved, StatusDeclined, StatusUnknown}
	stans := 0
	for len(cmds) < n {
		var c []byte
		switch p := rng.IntN(100); {
		case p < 35 || stans == 0:
			stans++
			c = IntentCmd(newTxn(tb, v, stans, types[rng.IntN(len(types))], int64(1+rng.IntN(100000))))
		case p < 70:
			st := statuses[rng.IntN(len(statuses))]
			c = OutcomeCmd(Outcome{ID: idOf(1 + rng.IntN(stans)), Status: st, RC: fmt.Sprintf("%02d", st), AuthCode: "A" + stanOf(stans), StandIn: rng.IntN(10) == 0, At: testEpoch + int64(len(cmds))})
		case p < 80:
			stans++
			typ := TypeReversal
			if rng.IntN(3) == 0 {
				typ = TypeCompletion
			}
			c = IntentCmd(linkedTxn(tb, v, stans, typ, 100, 1+rng.IntN(stans-1)))
		case p < 85:
			c = IntentCmd(newTxn(tb, v, 1+rng.IntN(stans), TypePurchase, 7)) // duplicate identity
		case p < 88:
			c = OutcomeCmd(Outcome{ID: idOf(900000 + rng.IntN(99999)), Status: StatusApproved, RC: "00", AuthCode: "", StandIn: false, At: 1}) // unknown id
		case p < 95:
			c = make([]byte, rng.IntN(40))
			for i := range c {
				c[i] = byte(rng.Uint32())
			}
		default:
			c = nil // a Raft configuration entry
		}
		indexes = append(indexes, uint64(len(cmds)+1))
		cmds = append(cmds, c)
	}
	return indexes, cmds
}

func TestReplicasConverge(t *testing.T) {
	v := mustVault(t)
	idx, cmds := randomLog(t, v, 42, 600)
	a := mustOpen(t, true)
	b := mustOpen(t, true)
	resA := a.ApplyBatch(idx, cmds)
	// b gets the same log in uneven batches, as a follower might.
	var resB []any
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < len(cmds); {
		j := min(i+1+rng.IntN(40), len(cmds))
		resB = append(resB, b.ApplyBatch(idx[i:j], cmds[i:j])...)
		i = j
	}
	ha, hb := mustHash(t, a), mustHash(t, b)
	if !bytes.Equal(ha, hb) || a.AppliedIndex() != 600 || b.AppliedIndex() != 600 {
		t.Fatalf("replicas differ: hash %x vs %x, applied %d vs %d", ha, hb, a.AppliedIndex(), b.AppliedIndex())
	}
	if !reflect.DeepEqual(resultSummary(resA), resultSummary(resB)) {
		t.Fatal("replicas returned different results")
	}
	if bytes.Equal(ha, mustHash(t, mustOpen(t, true))) {
		t.Fatal("the log changed nothing")
	}
	ta, _ := a.Totals()
	tb, _ := b.Totals()
	if !reflect.DeepEqual(ta, tb) || len(ta.Net) == 0 {
		t.Fatalf("totals %v vs %v", ta.Net, tb.Net)
	}
	// A different log gives a different state.
	idx2, cmds2 := randomLog(t, v, 43, 600)
	c := mustOpen(t, true)
	c.ApplyBatch(idx2, cmds2)
	if bytes.Equal(ha, mustHash(t, c)) {
		t.Fatal("different logs, same hash")
	}
}

// resultSummary reduces results to comparable text (errors compare by
// message, transactions by value).
func resultSummary(res []any) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = fmt.Sprintf("%+v", r)
		if r, ok := r.(Result); ok && r.Txn != nil {
			out[i] = fmt.Sprintf("%+v %v %v", *r.Txn, r.Existed, r.Err)
		}
	}
	return out
}
