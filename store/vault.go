package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Vault seals card numbers before they enter a command: AES-256-GCM for the
// number, with a random nonce in front of the ciphertext, and a keyed hash
// (HMAC-SHA256) so that equal cards can be searched and counted without
// decrypting. Both keys derive from the one configured key, so the hash
// reveals nothing without it. Errors never quote the card number. A Vault
// is safe for concurrent use.
type Vault struct {
	aead    cipher.AEAD
	hashKey []byte
}

// NewVault returns a vault for a 32-byte key.
func NewVault(key []byte) (*Vault, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("store: vault: %w", ErrBadKey)
	}
	block, err := aes.NewCipher(deriveKey(key, "tillgate pan encryption"))
	if err != nil {
		return nil, fmt.Errorf("store: vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: vault: %w", err)
	}
	return &Vault{aead: aead, hashKey: deriveKey(key, "tillgate pan hash")}, nil
}

// deriveKey derives an independent subkey per purpose, so that the
// encryption key never doubles as the hash key.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Seal encrypts pan and returns what the store keeps of it: the sealed
// number, its BIN (first six digits), its last four digits and its keyed
// hash. pan must be 12 to 19 digits.
func (v *Vault) Seal(pan string) (enc []byte, bin, last4 string, hash []byte, err error) {
	if !allDigits(pan) || len(pan) < 12 || len(pan) > 19 {
		return nil, "", "", nil, fmt.Errorf("store: vault: card number of %d characters is not 12-19 digits", len(pan))
	}
	ns := v.aead.NonceSize()
	nonce := make([]byte, ns, ns+len(pan)+v.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", "", nil, fmt.Errorf("store: vault: nonce: %w", err)
	}
	enc = v.aead.Seal(nonce, nonce, []byte(pan), nil)
	return enc, pan[:6], pan[len(pan)-4:], v.Hash(pan), nil
}

// Open decrypts what Seal returned.
func (v *Vault) Open(enc []byte) (string, error) {
	ns := v.aead.NonceSize()
	if len(enc) < ns+v.aead.Overhead() {
		return "", fmt.Errorf("store: vault: sealed card number of %d bytes is too short", len(enc))
	}
	p, err := v.aead.Open(nil, enc[:ns], enc[ns:], nil)
	if err != nil {
		return "", fmt.Errorf("store: vault: open: %w", err)
	}
	return string(p), nil
}

// Hash is the keyed hash of pan: equal cards have equal hashes, for search
// and velocity counts.
func (v *Vault) Hash(pan string) []byte {
	m := hmac.New(sha256.New, v.hashKey)
	m.Write([]byte(pan))
	return m.Sum(nil)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// LoadKeyFile reads a card key file: 64 hex characters (surrounding white
// space allowed).
func LoadKeyFile(path string) ([]byte, error) {
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
