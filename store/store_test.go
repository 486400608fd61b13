package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

const testPAN = "4111111111111111"

func mustOpen(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustVault(t testing.TB) *Vault {
	t.Helper()
	v, err := NewVault(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newTxn is a purchase INTENT as the node builds it.
func newTxn(t testing.TB, v *Vault, i int, typ TxnType, amount int64) *Txn {
	t.Helper()
	enc, bin, last4, hash, err := v.Seal(testPAN)
	if err != nil {
		t.Fatal(err)
	}
	return &Txn{
		ID: fmt.Sprintf("TERM0001%06d1122120000", i), Type: typ, MTI: "0200", ProcCode: "000000",
		Amount: amount, Currency: "978", TerminalID: "TERM0001", MerchantID: "MERCHANT0000001",
		STAN: fmt.Sprintf("%06d", i), TransmissionTime: "1122120000",
		PANEnc: enc, BIN: bin, Last4: last4, PANHash: hash,
		Acquirer: "acq", AcqSTAN: fmt.Sprintf("%06d", i), AcqTime: "1122120001", RRN: fmt.Sprintf("0001%08d", i),
		CreatedAt: 1763812800000000000 + int64(i),
	}
}

// testLog is a deterministic log: intents, outcomes, a duplicate intent, a
// reversal, garbage and a configuration entry.
func testLog(t testing.TB, v *Vault) (indexes []uint64, cmds [][]byte) {
	t.Helper()
	add := func(c []byte) {
		indexes = append(indexes, uint64(len(indexes)+1))
		cmds = append(cmds, c)
	}
	for i := 1; i <= 20; i++ {
		tx := newTxn(t, v, i, TypePurchase, int64(100*i))
		add(IntentCmd(tx))
		st, rc := StatusApproved, "00"
		if i%5 == 0 {
			st, rc = StatusDeclined, "51"
		}
		add(OutcomeCmd(tx.ID, st, rc, fmt.Sprintf("A%05d", i), false, tx.CreatedAt+1))
	}
	add(IntentCmd(newTxn(t, v, 3, TypePurchase, 300))) // duplicate identity
	rev := newTxn(t, v, 900, TypeReversal, 100)
	rev.MTI, rev.OriginalID = "0400", newTxn(t, v, 1, TypePurchase, 100).ID
	add(IntentCmd(rev))
	add(OutcomeCmd(rev.ID, StatusApproved, "00", "", false, rev.CreatedAt+1))
	add([]byte{1, 99, 1, 2}) // unknown op
	add(nil)                 // a Raft configuration entry
	add(IntentCmd(newTxn(t, v, 21, TypeRefund, 700)))
	return indexes, cmds
}

func TestSameLogSameState(t *testing.T) {
	v := mustVault(t)
	idx, cmds := testLog(t, v)
	a := mustOpen(t, filepath.Join(t.TempDir(), "a.db"))
	b := mustOpen(t, filepath.Join(t.TempDir(), "b.db"))
	a.ApplyBatch(idx, cmds)
	// b gets the same log in uneven batches, as a follower might.
	for i := 0; i < len(cmds); i += 7 {
		j := min(i+7, len(cmds))
		b.ApplyBatch(idx[i:j], cmds[i:j])
	}
	ha, _ := a.Hash()
	hb, _ := b.Hash()
	if !bytes.Equal(ha, hb) || a.AppliedIndex() != uint64(len(cmds)) || b.AppliedIndex() != a.AppliedIndex() {
		t.Fatalf("replicas differ: hash %x vs %x, applied %d vs %d", ha, hb, a.AppliedIndex(), b.AppliedIndex())
	}
}

func TestApplyResults(t *testing.T) {
	v := mustVault(t)
	idx, cmds := testLog(t, v)
	s := mustOpen(t, filepath.Join(t.TempDir(), "s.db"))
	res := s.ApplyBatch(idx, cmds)

	first := res[0].(Result)
	if first.Err != nil || first.Existed || first.Txn.Status != StatusPending || first.Txn.Day != "20251122" {
		t.Fatalf("intent result %+v", first)
	}
	dup := res[40].(Result)
	if !dup.Existed || dup.Txn.Status != StatusApproved || dup.Txn.AuthCode != "A00003" || dup.Txn.Amount != 300 {
		t.Fatalf("duplicate intent must return the stored transaction: %+v", dup.Txn)
	}
	if r := res[43].(Result); !errors.Is(r.Err, ErrUnknownOp) {
		t.Fatalf("unknown op: %+v", r)
	}
	if res[44] != nil {
		t.Fatalf("configuration entry result %v, want nil", res[44])
	}
	orig, ok, err := s.Get(newTxn(t, v, 1, TypePurchase, 100).ID)
	if err != nil || !ok || orig.Status != StatusReversed {
		t.Fatalf("reversed original: %+v %v %v", orig, ok, err)
	}
	if r := s.ApplyBatch([]uint64{100}, [][]byte{OutcomeCmd("nope", StatusApproved, "00", "", false, 1)})[0].(Result); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("outcome for unknown id: %+v", r)
	}
	// An OUTCOME for a finished transaction changes nothing.
	id2 := newTxn(t, v, 2, TypePurchase, 200).ID
	r := s.ApplyBatch([]uint64{101}, [][]byte{OutcomeCmd(id2, StatusDeclined, "05", "", false, 1)})[0].(Result)
	if r.Txn.Status != StatusApproved || r.Txn.RC != "00" {
		t.Fatalf("second outcome overwrote the first: %+v", r.Txn)
	}

	tot, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	// Purchases 1..20 approved except multiples of 5, minus the reversed #1.
	var wantN, wantA int64
	for i := 2; i <= 20; i++ {
		if i%5 != 0 {
			wantN++
			wantA += int64(100 * i)
		}
	}
	if got := tot.Net["purchase"]; got != (Sum{wantN, wantA}) || len(tot.Net) != 1 {
		t.Fatalf("totals %v, want purchase %d/%d only (the refund is still pending)", tot.Net, wantN, wantA)
	}
	p, err := s.Pending()
	if err != nil || len(p) != 1 || p[0].Type != TypeRefund {
		t.Fatalf("pending %v %v, want the one refund", p, err)
	}
	if tx, ok, _ := s.ByRRN("000100000007"); !ok || tx.STAN != "000007" {
		t.Fatalf("by RRN: %+v %v", tx, ok)
	}
	page, next, err := s.List(Query{Status: StatusApproved, Limit: 5})
	if err != nil || len(page) != 5 || next != page[4].ID {
		t.Fatalf("list: %d %q %v", len(page), next, err)
	}
	rest, next2, _ := s.List(Query{Status: StatusApproved, Limit: 100, Cursor: next})
	// 15 approved purchases and the approved reversal.
	if len(rest) != 16-5 || next2 != "" {
		t.Fatalf("second page %d, cursor %q", len(rest), next2)
	}
}

func TestRestartSkipsApplied(t *testing.T) {
	v := mustVault(t)
	idx, cmds := testLog(t, v)
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.ApplyBatch(idx, cmds)
	before, _ := s.Hash()
	s.Close()

	s = mustOpen(t, path)
	if s.AppliedIndex() != uint64(len(cmds)) {
		t.Fatalf("applied index after restart %d, want %d", s.AppliedIndex(), len(cmds))
	}
	// Raft replays entries after its last snapshot: they must not apply twice.
	res := s.ApplyBatch(idx, cmds)
	for i, r := range res {
		if r != nil {
			t.Fatalf("entry %d applied again: %+v", idx[i], r)
		}
	}
	after, _ := s.Hash()
	if !bytes.Equal(before, after) {
		t.Fatal("replaying applied entries changed the state")
	}
}

func TestSnapshotRestore(t *testing.T) {
	v := mustVault(t)
	idx, cmds := testLog(t, v)
	src := mustOpen(t, filepath.Join(t.TempDir(), "src.db"))
	src.ApplyBatch(idx, cmds)
	want, _ := src.Hash()

	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Raft persists while it applies: read the stream concurrently, and
	// what is applied after Snapshot must not leak into it.
	streamed := make(chan []byte)
	go func() { b, _ := io.ReadAll(snap); streamed <- b }()
	src.ApplyBatch([]uint64{1000}, [][]byte{IntentCmd(newTxn(t, v, 77, TypePurchase, 1))})
	snapBytes := <-streamed

	dst := mustOpen(t, filepath.Join(t.TempDir(), "dst.db"))
	dst.ApplyBatch([]uint64{1}, [][]byte{IntentCmd(newTxn(t, v, 55, TypePurchase, 1))})
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snapBytes))); err != nil {
		t.Fatal(err)
	}
	got, _ := dst.Hash()
	if !bytes.Equal(got, want) || dst.AppliedIndex() != uint64(len(cmds)) {
		t.Fatalf("restored state differs (applied %d)", dst.AppliedIndex())
	}
	if _, ok, _ := dst.Get(newTxn(t, v, 55, TypePurchase, 1).ID); ok {
		t.Fatal("restore kept state from before")
	}

	// A snapshot abandoned half read must release its transaction, or
	// Close would hang.
	early, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(early, make([]byte, 10))
	early.Close()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}

	bad := mustOpen(t, filepath.Join(t.TempDir(), "bad.db"))
	if err := bad.Restore(io.NopCloser(bytes.NewReader([]byte("not a database")))); err == nil {
		t.Fatal("a garbage snapshot was accepted")
	}
	if _, _, err := bad.Get("x"); err != nil {
		t.Fatalf("store unusable after a refused restore: %v", err)
	}
}

func TestNoClearPANOnDisk(t *testing.T) {
	v := mustVault(t)
	idx, cmds := testLog(t, v)
	path := filepath.Join(t.TempDir(), "s.db")
	s := mustOpen(t, path)
	s.ApplyBatch(idx, cmds)
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(testPAN)) {
		t.Fatal("the clear PAN is in the state file")
	}
	for _, c := range cmds {
		if bytes.Contains(c, []byte(testPAN)) {
			t.Fatal("the clear PAN is in a Raft command")
		}
	}
}

func TestVault(t *testing.T) {
	v := mustVault(t)
	enc, bin, last4, hash, err := v.Seal(testPAN)
	if err != nil || bin != "411111" || last4 != "1111" {
		t.Fatalf("seal: %q %q %v", bin, last4, err)
	}
	if pan, err := v.Open(enc); err != nil || pan != testPAN {
		t.Fatalf("open: %q %v", pan, err)
	}
	enc2, _, _, hash2, _ := v.Seal(testPAN)
	if bytes.Equal(enc, enc2) || !bytes.Equal(hash, hash2) {
		t.Fatal("want a fresh nonce per seal and a stable hash")
	}
	enc[len(enc)-1] ^= 1
	if _, err := v.Open(enc); err == nil {
		t.Fatal("a tampered ciphertext opened")
	}
	if _, err := NewVault([]byte("short")); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short key: %v", err)
	}

	path := filepath.Join(t.TempDir(), "card.key")
	key, err := WriteNewKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := LoadKeyFile(path); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("load: %v", err)
	}
	if _, err := WriteNewKeyFile(path); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	os.WriteFile(path, []byte("zz"), 0o600)
	if _, err := LoadKeyFile(path); !errors.Is(err, ErrBadKey) {
		t.Fatalf("bad key file: %v", err)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	v := mustVault(f)
	_, cmds := testLog(f, v)
	for _, c := range cmds {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err == nil && c.op == OpIntent && c.intent.ID == "" {
			t.Fatal("intent without id accepted")
		}
	})
}

func BenchmarkApplyBatch(b *testing.B) {
	v := mustVault(b)
	s := mustOpen(b, filepath.Join(b.TempDir(), "s.db"))
	const batch = 256
	next := uint64(0)
	idx := make([]uint64, batch)
	cmds := make([][]byte, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			next++
			idx[j] = next
			cmds[j] = IntentCmd(newTxn(b, v, int(next), TypePurchase, 100))
		}
		s.ApplyBatch(idx, cmds)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
}
