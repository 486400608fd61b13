package store

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LoadVault loads the key ring of a node: file is key 1 and the source of
// the hash key (card_key_file); dir, if set (card_key_dir), holds more keys
// as ID.key (ID 2-255), which Reload picks up while the node runs.
func LoadVault(file, dir string) (*Vault, error) {
	first, err := LoadKeyFile(file)
	if err != nil {
		return nil, err
	}
	more, err := loadKeyDir(dir)
	if err != nil {
		return nil, err
	}
	v, err := NewVaultRing(first, more)
	if err != nil {
		return nil, err
	}
	v.dir = dir
	return v, nil
}

// Reload reads the key directory again and adds the keys that are new. A
// key already loaded must not change: another key under the same id would
// make every card sealed under it unreadable.
func (v *Vault) Reload() error {
	if v.dir == "" {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	more, err := loadKeyDir(v.dir)
	if err != nil {
		return err
	}
	old := v.ring.Load()
	r := &ring{keys: map[uint8]cipher.AEAD{}, kcv: map[uint8]string{}, raw: map[uint8][]byte{}}
	for id := range old.keys {
		r.keys[id], r.kcv[id], r.raw[id] = old.keys[id], old.kcv[id], old.raw[id]
	}
	for id, k := range more {
		if have, ok := old.raw[id]; ok {
			if !bytes.Equal(have, k) {
				return fmt.Errorf("store: card key %s: key %d changed since it was loaded: restore the file (a key id never gets another key)", filepath.Join(v.dir, keyFileName(id)), id)
			}
			continue
		}
		if err := r.add(id, k); err != nil {
			return err
		}
	}
	v.ring.Store(r)
	return nil
}

func keyFileName(id uint8) string { return strconv.Itoa(int(id)) + ".key" }

// loadKeyDir reads ID.key files of dir; other names are ignored.
func loadKeyDir(dir string) (map[uint8][]byte, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // not made yet: the first rotation's key goes there
	}
	if err != nil {
		return nil, fmt.Errorf("store: card key dir: %w", err)
	}
	out := map[uint8][]byte{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(name)
		if err != nil || n < 2 || n > maxKeyID || strconv.Itoa(n) != name {
			return nil, fmt.Errorf("store: card key %s: name keys ID.key with ID 2 to %d (key 1 is card_key_file)", filepath.Join(dir, e.Name()), maxKeyID)
		}
		k, err := LoadKeyFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[uint8(n)] = k
	}
	return out, nil
}

// ErrKeyFileMode: a key file that group or others may read.
var ErrKeyFileMode = errors.New("store: card key file readable by group or others")

// LoadKeyFile reads a card key file: 64 hex characters (surrounding white
// space allowed). A file group or others may read or write is refused.
func LoadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store: card key: %w", err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run `chmod 600 %s` (and keep it owned by the user tillgate runs as)", ErrKeyFileMode, path, m, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: card key: %w", err)
	}
	s := strings.TrimSpace(string(b))
	key, err := hex.DecodeString(s)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("store: card key %s: %w", path, ErrBadKey)
	}
	return key, nil
}

// WriteNewKeyFile writes a new random key to path (mode 0600, synced) and
// returns it. It refuses to overwrite an existing file: losing a key loses
// every card number sealed with it.
func WriteNewKeyFile(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: card key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: card key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("store: card key %s: %w", path, err)
	}
	return key, nil
}
