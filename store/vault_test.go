package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVaultRoundTrip(t *testing.T) {
	v := mustVault(t)
	for _, pan := range []string{"411111111111", testPAN, "6011000990139424123"} {
		enc, bin, last4, hash, err := v.Seal(pan, "T1")
		if err != nil || bin != pan[:6] || last4 != pan[len(pan)-4:] || len(hash) != 32 {
			t.Fatalf("seal %d digits: %q %q %d-byte hash, %v", len(pan), bin, last4, len(hash), err)
		}
		if bytes.Contains(enc, []byte(pan)) || bytes.Contains(enc, []byte(pan[6:len(pan)-4])) {
			t.Fatal("sealed bytes contain the card number")
		}
		if got, err := v.Open(enc, "T1"); err != nil || got != pan {
			t.Fatalf("open: %v", err)
		}
		if !bytes.Equal(hash, v.Hash(pan)) {
			t.Fatal("Seal's hash differs from Hash")
		}
	}
}

func TestVaultNonceAndHash(t *testing.T) {
	v := mustVault(t)
	enc1, _, _, hash1, _ := v.Seal(testPAN, "T1")
	enc2, _, _, hash2, _ := v.Seal(testPAN, "T1")
	if bytes.Equal(enc1, enc2) {
		t.Fatal("two seals of one card are equal: the nonce is not fresh")
	}
	if !bytes.Equal(hash1, hash2) {
		t.Fatal("equal cards must have equal hashes")
	}
	if bytes.Equal(v.Hash(testPAN), v.Hash("4111111111111129")) {
		t.Fatal("different cards, equal hashes")
	}
	other, err := NewVault(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Hash(testPAN), hash1) {
		t.Fatal("the hash does not depend on the key")
	}
	if _, err := other.Open(enc1, "T1"); err == nil {
		t.Fatal("opened with another key")
	}
}

func TestVaultRefuses(t *testing.T) {
	v := mustVault(t)
	enc, _, _, _, _ := v.Seal(testPAN, "T1")
	tampered := append([]byte(nil), enc...)
	tampered[len(tampered)-1] ^= 1
	for name, b := range map[string][]byte{"tampered": tampered, "empty": nil, "short": enc[:20]} {
		if _, err := v.Open(b, "T1"); err == nil {
			t.Fatalf("%s: opened", name)
		}
	}
	for _, pan := range []string{"", "41111111111", "41111111111111111111", "4111-1111-1111-1111", "411111111111111x"} {
		_, _, _, _, err := v.Seal(pan, "T1")
		if err == nil {
			t.Fatalf("sealed %q", pan)
		}
		if pan != "" && strings.Contains(err.Error(), pan) {
			t.Fatalf("error quotes the card number: %v", err)
		}
	}
	for _, key := range [][]byte{nil, make([]byte, 16), make([]byte, 33)} {
		if _, err := NewVault(key); !errors.Is(err, ErrBadKey) {
			t.Fatalf("%d-byte key: %v", len(key), err)
		}
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "card.key")
	key, err := WriteNewKeyFile(path)
	if err != nil || len(key) != 32 {
		t.Fatalf("write: %d bytes, %v", len(key), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	if got, err := LoadKeyFile(path); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("load: %v", err)
	}
	if _, err := WriteNewKeyFile(path); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	if got, _ := LoadKeyFile(path); !bytes.Equal(got, key) {
		t.Fatal("a refused WriteNewKeyFile changed the key")
	}
	for name, content := range map[string]string{
		"not hex":   strings.Repeat("z", 64),
		"too short": strings.Repeat("a", 62),
		"too long":  strings.Repeat("a", 66),
		"empty":     "",
	} {
		bad := filepath.Join(t.TempDir(), "bad.key")
		os.WriteFile(bad, []byte(content), 0o600)
		if _, err := LoadKeyFile(bad); !errors.Is(err, ErrBadKey) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestNoClearPANOnDisk: invariant 5. Neither the state file nor the Raft
// commands hold the card number in clear.
func TestNoClearPANOnDisk(t *testing.T) {
	v := mustVault(t)
	idx, cmds := randomLog(t, v, 9, 300)
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpenPath(t, path, false)
	s.ApplyBatch(idx, cmds)
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	snapBytes, err := io.ReadAll(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The test must be able to fail: the BIN and last four are stored.
	if !bytes.Contains(file, []byte(testPAN[:6])) {
		t.Fatal("the BIN is not in the file: wrong file?")
	}
	for name, b := range map[string][]byte{"state file": file, "snapshot": snapBytes, "commands": bytes.Join(cmds, nil)} {
		if bytes.Contains(b, []byte(testPAN)) {
			t.Fatalf("the clear PAN is in the %s", name)
		}
	}
}
