package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// layoutHistory is a log that uses every reader the lean layout changes:
// own and explicit RRNs (one explicit RRN equal to an earlier record's own
// RRN, one equal to a later one's), every status, a reversal, two days.
// Its first entry goes to Raft index base.
func layoutHistory(t *testing.T, v *Vault, first int, base uint64) [][]byte {
	var cmds [][]byte
	intent := func(n int, typ TxnType, orig int, rrn string) *Txn {
		tx := newTxn(t, v, n, typ, int64(100*n))
		if orig > 0 {
			tx.OriginalID = idOf(orig)
		}
		tx.RRN, tx.AcqSTAN = rrn, ""
		cmds = append(cmds, IntentCmd(tx))
		return tx
	}
	outcome := func(tx *Txn, st Status) {
		cmds = append(cmds, OutcomeCmd(Outcome{ID: tx.ID, Status: st, RC: "00", AuthCode: "A1", At: tx.CreatedAt + 5}))
	}
	n := first
	for i := range 12 {
		tx := intent(n, TypePurchase, 0, "")
		outcome(tx, []Status{StatusApproved, StatusDeclined, StatusUnknown, StatusApproved}[i%4])
		n++
	}
	// Explicit RRNs: one a far later index's own RRN (indexed: it comes
	// first), one an earlier record's own RRN (not indexed: that record
	// has it).
	outcome(intent(n, TypePurchase, 0, "000000900000"), StatusApproved)
	intent(n+1, TypeRefund, 0, seqRRN(base)) // the first one's own; stays pending
	rev := intent(n+2, TypeReversal, first, "")
	outcome(rev, StatusApproved)
	cmds = append(cmds, CutoverCmd("", "", "", 0)) // refused (invalid): counts as an entry
	return cmds
}

func applyAll(t *testing.T, l *logApplier, cmds [][]byte) {
	t.Helper()
	for _, c := range cmds {
		l.apply(c)
	}
}

// storeAnswers is everything the readers say about a store.
func storeAnswers(t *testing.T, s *Store, days []string) string {
	t.Helper()
	var b bytes.Buffer
	all, _, err := s.List(Query{Limit: MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range all {
		got, ok, err := s.ByRRN(tx.RRN)
		if err != nil || !ok {
			t.Fatalf("by RRN %s: %v %v", tx.RRN, ok, err)
		}
		fmt.Fprintf(&b, "rrn %s -> %s\n", tx.RRN, got.ID)
		for _, q := range []Query{{RRN: tx.RRN}, {RRN: tx.RRN, Status: &tx.Status}} {
			l, _, err := s.List(q)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "list rrn %s %v: %d\n", tx.RRN, q.Status, len(l))
		}
	}
	if _, ok, err := s.ByRRN("999999999999"); ok || err != nil {
		t.Fatalf("unknown RRN found: %v %v", ok, err)
	}
	page := func(q Query) {
		q.Limit = 2
		for {
			l, next, err := s.List(q)
			if err != nil {
				t.Fatal(err)
			}
			for _, tx := range l {
				fmt.Fprintf(&b, "list %v %s %s: %s %v\n", q.Status, q.Day, q.Merchant, tx.ID, tx.Status)
			}
			if next == "" {
				return
			}
			q.Cursor = next
		}
	}
	for st := StatusPending; st <= StatusReversed; st++ {
		page(Query{Status: &st})
		page(Query{Status: &st, Terminal: testTerminal})
		for _, d := range days {
			page(Query{Day: d, Status: &st})
		}
	}
	page(Query{Merchant: testMerchant})
	page(Query{Merchant: "MERCHANT0000002"})
	page(Query{Day: "20251201"}) // no such day: nothing
	for _, d := range days {
		page(Query{Day: d})
		page(Query{Day: d, Merchant: testMerchant})
		err := s.EachInDay(context.Background(), d, func(dt DayTxn) error {
			fmt.Fprintf(&b, "day %s: %d %s original %v takes back %v\n", d, dt.Seq, dt.Txn.ID, dt.Original != nil, dt.TakesBack)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Report(ReportQuery{Day: d, By: ByRC})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "report %s: %+v\n", d, r)
	}
	tot, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	pending, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "totals %+v pending %d\n", tot, len(pending))
	return b.String()
}

// The lean layout answers every reader as schema 4 does, writes fewer index
// entries, and every replica that applies the same log (the switch
// included), or restores a snapshot of it, holds the same file.
func TestSchemaLeanAnswersAlike(t *testing.T) {
	v := mustVault(t)
	h1 := layoutHistory(t, v, 1, 1)
	base2 := uint64(len(h1)) + 3 // after the cutover and the switch
	h2 := layoutHistory(t, v, 100, base2)
	cut := CutoverCmd(testDay, testNextDay, BySchedule, testEpoch+50)
	days := []string{testDay, testNextDay}

	old := mustOpen(t, true) // stays at schema 4
	lo := newLog(t, old)
	applyAll(t, lo, h1)
	lo.apply(cut)
	lo.next++ // the switch's index: an entry the old layout never sees
	applyAll(t, lo, h2)

	var lean [2]*Store
	for i := range lean {
		lean[i] = mustOpen(t, true)
		l := newLog(t, lean[i])
		applyAll(t, l, h1)
		l.apply(cut)
		if r := l.apply(SchemaCmd(SchemaLean)); r.Err != nil || r.Existed {
			t.Fatalf("schema: %+v", r)
		}
		applyAll(t, l, h2)
	}
	if !bytes.Equal(mustHash(t, lean[0]), mustHash(t, lean[1])) {
		t.Fatal("two replicas of the same log differ")
	}
	if bytes.Equal(mustHash(t, lean[0]), mustHash(t, old)) {
		t.Fatal("the lean layout wrote the same file as schema 4")
	}
	want, got := storeAnswers(t, old, days), storeAnswers(t, lean[0], days)
	if got != want {
		t.Fatalf("lean layout answers differ:\n%s\nschema 4:\n%s", got, want)
	}
	if !bytes.Contains([]byte(want), []byte("rrn "+seqRRN(base2)+" -> "+idOf(100)+"\n")) {
		t.Fatalf("an RRN equal to an earlier record's own names the later one:\n%s", want)
	}

	// What the lean file holds: no day index, only open statuses, and no
	// own RRNs of the transactions after the switch.
	err := lean[0].view(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDay, bucketMerchant} {
			if k, _ := tx.Bucket(b).Cursor().First(); k != nil {
				t.Errorf("%s holds %x", b, k)
			}
		}
		tx.Bucket(bucketStatus).ForEach(func(k, _ []byte) error {
			if !Status(k[0]).open() {
				t.Errorf("status index holds %v %x", Status(k[0]), k[1:])
			}
			return nil
		})
		t2, _ := mustGetTx(t, tx, idOf(100))
		if tx.Bucket(bucketRRN).Get([]byte(t2.RRN)) != nil {
			t.Errorf("own RRN %s indexed after the switch", t2.RRN)
		}
		if tx.Bucket(bucketRRN).Get([]byte("000000900000")) == nil {
			t.Error("explicit RRN not indexed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A repeat changes nothing; another version is refused.
	l := newLog(t, lean[0])

	if r := l.apply(SchemaCmd(SchemaLean)); r.Err != nil || !r.Existed {
		t.Fatalf("repeated schema: %+v", r)
	}
	if r := l.apply(SchemaCmd("6")); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("schema 6: %+v, want ErrInvalid", r)
	}
	lean[1].ApplyBatch([]uint64{l.next - 2, l.next - 1}, [][]byte{SchemaCmd(SchemaLean), SchemaCmd("6")})
	if !bytes.Equal(mustHash(t, lean[0]), mustHash(t, lean[1])) {
		t.Fatal("replicas differ after a repeated switch")
	}
	if got := storeAnswers(t, lean[0], days); got != want {
		t.Fatalf("a repeated switch changed the answers:\n%s", got)
	}

	// A snapshot carries the layout: the restored replica goes on alike.
	snap, err := lean[0].Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	dst := mustOpen(t, true)
	if err := dst.Restore(snap); err != nil {
		t.Fatal(err)
	}
	h3 := layoutHistory(t, v, 300, l.next)
	for _, s := range []*Store{lean[0], dst} {
		applyAll(t, newLog(t, s), h3)
	}
	if !bytes.Equal(mustHash(t, lean[0]), mustHash(t, dst)) {
		t.Fatal("restored replica differs after more entries")
	}
}

func mustGetTx(t *testing.T, tx *bolt.Tx, id string) (*Txn, []byte) {
	t.Helper()
	seq := tx.Bucket(bucketIDs).Get([]byte(id))
	got, err := getTxn(tx, seq)
	if err != nil || got == nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return got, seq
}

// A lean file reopens as it is; a file of an unknown schema is refused.
func TestSchemaReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := newLog(t, s)
	l.ok(SchemaCmd(SchemaLean))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenPath(t, path, false)
	if r := newLog(t, s).apply(SchemaCmd(SchemaLean)); !r.Existed {
		t.Fatalf("reopened lean file converted again: %+v", r)
	}
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchema, []byte("6")) })
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("a file of schema 6 opened")
	}
}
