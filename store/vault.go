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

// Vault seals card numbers: AES-256-GCM for the number itself, and a keyed
// hash so that equal cards can be found and counted without decrypting.
// Both keys derive from one configured key. Errors never quote the PAN.
type Vault struct {
	aead    cipher.AEAD
	hashKey []byte
}

// ErrBadKey: the key is not 32 bytes (64 hex characters in a key file).
var ErrBadKey = errors.New("store: card key must be 32 bytes (64 hex characters)")

// NewVault returns a vault for a 32-byte key.
func NewVault(key []byte) (*Vault, error) {
	if len(key) != 32 {
		return nil, ErrBadKey
	}
	block, err := aes.NewCipher(derive(key, "tillgate pan encryption"))
	if err != nil {
		return nil, fmt.Errorf("store: vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: vault: %w", err)
	}
	return &Vault{aead: aead, hashKey: derive(key, "tillgate pan hash")}, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Seal encrypts pan and returns what the store keeps of it.
func (v *Vault) Seal(pan string) (enc []byte, bin, last4 string, hash []byte, err error) {
	if len(pan) < 10 {
		return nil, "", "", nil, errors.New("store: vault: card number too short to seal")
	}
	nonce := make([]byte, v.aead.NonceSize(), v.aead.NonceSize()+len(pan)+v.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", "", nil, fmt.Errorf("store: vault: nonce: %w", err)
	}
	enc = v.aead.Seal(nonce, nonce, []byte(pan), nil)
	return enc, pan[:6], pan[len(pan)-4:], v.Hash(pan), nil
}

// Open decrypts what Seal returned.
func (v *Vault) Open(enc []byte) (string, error) {
	n := v.aead.NonceSize()
	if len(enc) < n {
		return "", errors.New("store: vault: sealed card number too short")
	}
	p, err := v.aead.Open(nil, enc[:n], enc[n:], nil)
	if err != nil {
		return "", fmt.Errorf("store: vault: open: %w", err)
	}
	return string(p), nil
}

// Hash is the keyed hash of pan, for search and velocity counting.
func (v *Vault) Hash(pan string) []byte {
	m := hmac.New(sha256.New, v.hashKey)
	m.Write([]byte(pan))
	return m.Sum(nil)
}

// LoadKeyFile reads a key file of 64 hex characters.
func LoadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: card key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("store: card key %s: %w", path, ErrBadKey)
	}
	return key, nil
}

// WriteNewKeyFile writes a new random key to path (mode 0600) and returns
// it. It refuses to overwrite an existing file: losing a key loses every
// stored card number.
func WriteNewKeyFile(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: card key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: card key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: card key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: card key %s: %w", path, err)
	}
	return key, f.Close()
}
