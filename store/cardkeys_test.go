package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var (
	key1 = bytes.Repeat([]byte{7}, 32) // mustVault's
	key2 = bytes.Repeat([]byte{2}, 32)
)

// legacySeal seals pan as the vault did before key ids: nonce | GCM, no
// associated data. firstByte, if not negative, fixes the nonce's first
// byte (a legacy nonce may well begin like the new format).
func legacySeal(t *testing.T, key []byte, pan string, firstByte int) []byte {
	t.Helper()
	block, err := aes.NewCipher(deriveKey(key, encPurpose))
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	if firstByte >= 0 {
		nonce[0] = byte(firstByte)
	}
	return aead.Seal(nonce, nonce, []byte(pan), nil)
}

func ringVault(t *testing.T) *Vault {
	t.Helper()
	v, err := NewVaultRing(key1, map[uint8][]byte{2: key2})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSealedFormat(t *testing.T) {
	v := ringVault(t)
	for _, pan := range []string{"411111111111", testPAN, "6011000990139424123"} {
		enc, _, _, _, err := v.Seal(pan, "T1")
		if err != nil {
			t.Fatal(err)
		}
		// Every new seal is as long whatever the card's length, and
		// longer than any legacy one: the length tells the format.
		if len(enc) != 50 || enc[0] != 0xC1 || enc[1] != 1 {
			t.Fatalf("%d digits: sealed % x (%d bytes), want C1 01 ... 50 bytes", len(pan), enc[:2], len(enc))
		}
		if id, err := SealedKeyID(enc); err != nil || id != 1 {
			t.Fatalf("key id %d, %v", id, err)
		}
	}
	// Old ciphertexts (bbolt files and Raft logs written before key ids)
	// open with key 1, whatever their nonce begins with.
	for _, first := range []int{-1, 0xC1, 0x00} {
		for _, pan := range []string{"411111111111", testPAN, "6011000990139424123"} {
			old := legacySeal(t, key1, pan, first)
			if id, err := SealedKeyID(old); err != nil || id != 1 {
				t.Fatalf("legacy of %d bytes: key %d, %v", len(old), id, err)
			}
			if got, err := v.Open(old, "any id: legacy has no AAD"); err != nil || got != pan {
				t.Fatalf("legacy, nonce byte %d, %d digits: %q, %v", first, len(pan), got, err)
			}
		}
	}
	for _, n := range []int{0, 39, 48, 49, 51} {
		if _, err := v.Open(make([]byte, n), "T1"); err == nil || !strings.Contains(err.Error(), "neither format") {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}

func TestSealedBoundToTransaction(t *testing.T) {
	v := ringVault(t)
	enc, _, _, _, _ := v.Seal(testPAN, idOf(1))
	if _, err := v.Open(enc, idOf(2)); err == nil || !strings.Contains(err.Error(), "another transaction") {
		t.Fatalf("a card moved to another transaction opened: %v", err)
	}
	// The key id is bound too: relabelled, it does not open under key 2.
	moved := bytes.Clone(enc)
	moved[1] = 2
	if _, err := v.Open(moved, idOf(1)); err == nil {
		t.Fatal("a card relabelled to key 2 opened")
	}
	if got, err := v.Open(enc, idOf(1)); err != nil || got != testPAN {
		t.Fatalf("own transaction: %v", err)
	}
}

func TestUnknownKeyID(t *testing.T) {
	ks := KeyState{Current: 2}
	v := ringVault(t)
	v.Follow(func() KeyState { return ks })
	enc, _, _, _, err := v.Seal(testPAN, "T1")
	if err != nil || enc[1] != 2 {
		t.Fatalf("seal under key 2: % x, %v", enc[:2], err)
	}
	only1 := mustVault(t)
	_, err = only1.Open(enc, "T1")
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "add 2.key to card_key_dir") {
		t.Fatalf("open under a key not held: %v", err)
	}
	only1.Follow(func() KeyState { return ks })
	if _, _, _, _, err := only1.Seal(testPAN, "T1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("seal with the current key not held: %v", err)
	}
	ks.Retired = []uint8{1}
	old := legacySeal(t, key1, testPAN, -1)
	if _, err := v.Open(old, "T1"); !errors.Is(err, ErrKeyRetired) {
		t.Fatalf("legacy card after key 1 retired: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "card.key")
	if _, err := WriteNewKeyFile(first); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(first, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := LoadVault(first, "")
	if !errors.Is(err, ErrKeyFileMode) || !strings.Contains(err.Error(), "chmod 600 "+first) {
		t.Fatalf("a group-readable key: %v", err)
	}
	os.Chmod(first, 0o600)
	keys := filepath.Join(dir, "keys")
	os.Mkdir(keys, 0o700)
	v, err := LoadVault(first, keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Check(2); ok {
		t.Fatal("key 2 before its file exists")
	}
	if _, err := WriteNewKeyFile(filepath.Join(keys, "2.key")); err != nil {
		t.Fatal(err)
	}
	// Sealing under a current key not loaded yet reloads the directory.
	v.Follow(func() KeyState { return KeyState{Current: 2} })
	if enc, _, _, _, err := v.Seal(testPAN, "T1"); err != nil || enc[1] != 2 {
		t.Fatalf("seal under key 2 added while running: %v", err)
	}
	os.Remove(filepath.Join(keys, "2.key"))
	os.WriteFile(filepath.Join(keys, "2.key"), []byte(strings.Repeat("ab", 32)), 0o600)
	if err := v.Reload(); err == nil || !strings.Contains(err.Error(), "changed since it was loaded") {
		t.Fatalf("key 2 replaced on disk: %v", err)
	}
	for _, name := range []string{"1.key", "0.key", "256.key", "02.key", "x.key"} {
		bad := t.TempDir()
		os.WriteFile(filepath.Join(bad, name), []byte(strings.Repeat("ab", 32)), 0o600)
		if _, err := LoadVault(first, bad); err == nil || !strings.Contains(err.Error(), "ID 2 to 255") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	loose := t.TempDir()
	os.WriteFile(filepath.Join(loose, "3.key"), []byte(strings.Repeat("ab", 32)), 0o604)
	os.Chmod(filepath.Join(loose, "3.key"), 0o604)
	if _, err := LoadVault(first, loose); !errors.Is(err, ErrKeyFileMode) {
		t.Fatalf("world-readable 3.key: %v", err)
	}
}

// TestKeyRotationApplied: rotation, re-seal and retirement as every
// replica applies them.
func TestKeyRotationApplied(t *testing.T) {
	s := mustOpen(t, false)
	v := ringVault(t)
	v.Follow(s.CardKeys)
	l := newLog(t, s)
	old := newTxn(t, v, 1, TypePurchase, 100)
	old.PANEnc = legacySeal(t, key1, testPAN, 0xC1)
	l.txn(old, StatusApproved)
	l.txn(newTxn(t, v, 2, TypePurchase, 100), StatusApproved)
	counts := func() map[uint8]int64 {
		t.Helper()
		c, err := s.SealedRecords()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := counts(); c[0] != 1 || c[1] != 1 || len(c) != 2 {
		t.Fatalf("counts %v, want legacy 1, key 1 1", c)
	}
	chk2, _ := v.Check(2)
	if r := l.apply(KeyCmdOf(KeyCmd{Action: KeyRotate, ID: 2, Check: chk2, HashCheck: v.HashCheck(), At: 5})); r.Err != nil || r.Keys.Current != 2 || !r.Keys.Resealing {
		t.Fatalf("rotate: %+v", r)
	}
	if s.CardKeys().Current != 2 || v.Current() != 2 {
		t.Fatal("the store's copy of the key state did not follow")
	}
	if r := l.apply(KeyCmdOf(KeyCmd{Action: KeyRotate, ID: 2, Check: chk2, HashCheck: "0000"})); !r.Existed {
		t.Fatalf("a repeated rotation: %+v", r)
	}
	if r := l.apply(KeyCmdOf(KeyCmd{Action: KeyRotate, ID: 3, Check: "x", HashCheck: "another"})); !errors.Is(r.Err, ErrMismatch) {
		t.Fatalf("a rotation from a node with another hash key: %v", r.Err)
	}
	new3 := newTxn(t, v, 3, TypePurchase, 100)
	if new3.PANEnc[1] != 2 {
		t.Fatal("not sealed under the current key")
	}
	l.txn(new3, StatusApproved)
	if r := l.apply(KeyCmdOf(KeyCmd{Action: KeyRetire, ID: 1})); !errors.Is(r.Err, ErrDayBusy) || !strings.Contains(r.Err.Error(), "2 records") {
		t.Fatalf("retire with records under it: %v", r.Err)
	}
	// The re-seal walks the records from the cursor.
	txns, seqs, next, err := s.TxnsFrom(0, 10)
	if err != nil || len(txns) != 3 || next != 0 {
		t.Fatalf("walk: %d records, next %d, %v", len(txns), next, err)
	}
	var items []ResealItem
	for i, tx := range txns {
		enc, changed, err := v.Reseal(tx.PANEnc, tx.ID)
		if err != nil {
			t.Fatal(err)
		}
		if changed {
			items = append(items, ResealItem{Seq: seqs[i], Enc: enc})
		}
	}
	if len(items) != 2 {
		t.Fatalf("%d re-sealed, want 2", len(items))
	}
	if r := l.apply(ResealCmdOf(ResealCmd{From: 7, Next: 99, Items: items})); !errors.Is(r.Err, ErrStaleReseal) {
		t.Fatalf("a batch from another cursor: %v", r.Err)
	}
	bad := []ResealItem{{Seq: seqs[0], Enc: legacySeal(t, key1, testPAN, -1)}}
	if r := l.apply(ResealCmdOf(ResealCmd{From: 0, Next: seqs[2] + 1, Items: bad})); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("a re-seal not under the current key: %v", r.Err)
	}
	if r := l.apply(ResealCmdOf(ResealCmd{From: 0, Next: seqs[2] + 1, Done: true, Items: items})); r.Err != nil || r.Keys.Resealing {
		t.Fatalf("re-seal: %+v", r)
	}
	if c := counts(); c[2] != 3 || len(c) != 1 {
		t.Fatalf("after the re-seal: %v", c)
	}
	for n := 1; n <= 3; n++ {
		got := mustGet(t, s, idOf(n))
		if pan, err := v.Open(got.PANEnc, got.ID); err != nil || pan != testPAN || got.PANEnc[1] != 2 {
			t.Fatalf("record %d after the re-seal: %v", n, err)
		}
	}
	if r := l.apply(KeyCmdOf(KeyCmd{Action: KeyRetire, ID: 2})); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("retiring the current key: %v", r.Err)
	}
	if r := l.apply(KeyCmdOf(KeyCmd{Action: KeyRetire, ID: 1})); r.Err != nil || len(r.Keys.Retired) != 1 {
		t.Fatalf("retire: %+v", r)
	}
	late := newTxn(t, v, 4, TypePurchase, 100)
	late.PANEnc = legacySeal(t, key1, testPAN, -1)
	if r := l.apply(IntentCmd(late)); !errors.Is(r.Err, ErrKeyRetired) {
		t.Fatalf("an INTENT sealed under a retired key: %v", r.Err)
	}
	if r := l.apply(KeyCmdOf(KeyCmd{Action: KeyRotate, ID: 1})); !errors.Is(r.Err, ErrKeyRetired) {
		t.Fatalf("a retired key made current again: %v", r.Err)
	}
}

// TestSealedCountsOfOlderFile: a file written before the counts gains them
// at Open, from its records.
func TestSealedCountsOfOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpenPath(t, path, false)
	v := mustVault(t)
	l := newLog(t, s)
	for n := 1; n <= 5; n++ {
		tx := newTxn(t, v, n, TypePurchase, 100)
		if n%2 == 0 {
			tx.PANEnc = legacySeal(t, key1, testPAN, -1)
		}
		l.txn(tx, StatusApproved)
	}
	want := mustHash(t, s)
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		tx.DeleteBucket(bucketCardKeys)
		return tx.DeleteBucket(bucketCardKeyRecords)
	})
	db.Close()
	s = mustOpenPath(t, path, false)
	c, err := s.SealedRecords()
	if err != nil || c[0] != 2 || c[1] != 3 {
		t.Fatalf("counts %v, %v", c, err)
	}
	if !bytes.Equal(mustHash(t, s), want) {
		t.Fatal("the rebuilt counts differ from the ones kept by Apply")
	}
}
