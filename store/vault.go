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
	"sync"
	"sync/atomic"
)

// Vault seals card numbers before they enter a command: AES-256-GCM for the
// number, and a keyed hash (HMAC-SHA256) so that equal cards can be
// searched and counted without decrypting. It holds a key ring: the
// current encryption key seals, every key it holds opens, and which key is
// current is the replicated state's (KeyState, op 14), so every node seals
// with the same one. The hash key is separate and never rotates (DESIGN.md,
// "Card keys"). Errors never quote the card number. A Vault is safe for
// concurrent use.
//
// Sealed formats, told apart by length alone (so that the store, which has
// no keys, classifies a record exactly):
//
//	legacy (before key ids): nonce(12) | GCM(pan) | tag(16), 40-47 bytes,
//	    no associated data; opens with key 1.
//	v1: 0xC1 | key id | nonce(12) | GCM(len(pan), pan, zero padding to 20) | tag(16),
//	    50 bytes; associated data: the first two bytes and the
//	    transaction's identity (Txn.ID), so a sealed number moved to
//	    another transaction does not open.
type Vault struct {
	hashKey []byte
	hashKCV string
	ring    atomic.Pointer[ring]
	state   atomic.Pointer[func() KeyState]

	// dir is where Reload finds more keys ("" for none); mu serializes
	// reloads.
	dir string
	mu  sync.Mutex
}

// ring is the loaded encryption keys, replaced whole.
type ring struct {
	keys map[uint8]cipher.AEAD
	kcv  map[uint8]string
	raw  map[uint8][]byte // the file's key, to notice a changed file
}

// The sealed formats' sizes.
const (
	sealMagic    = 0xC1
	sealPadded   = 20 // a length byte and up to 19 digits
	sealV1Len    = 2 + 12 + sealPadded + 16
	legacyMinLen = 12 + 12 + 16
	legacyMaxLen = 12 + 19 + 16
	legacyKeyID  = 1 // the key a legacy sealed number opens with
	maxKeyID     = 255
	kcvPurpose   = "tillgate key check"
	encPurpose   = "tillgate pan encryption"
	hashPurpose  = "tillgate pan hash"
	kcvHexLen    = 16
)

// Card key errors.
var (
	// ErrUnknownKey: a sealed card number names a key this node does not
	// hold.
	ErrUnknownKey = errors.New("store: card sealed under a key this node does not hold")
	// ErrKeyRetired: a sealed card number names a retired key, or a key
	// command names one.
	ErrKeyRetired = errors.New("store: card key retired")
)

// NewVault returns a vault of one 32-byte key: key 1 and the hash key, as
// a node with only card_key_file has.
func NewVault(key []byte) (*Vault, error) { return NewVaultRing(key, nil) }

// NewVaultRing returns a vault whose first key (key 1) also gives the hash
// key, with more encryption keys by id (2-255).
func NewVaultRing(first []byte, more map[uint8][]byte) (*Vault, error) {
	if len(first) != 32 {
		return nil, fmt.Errorf("store: vault: %w", ErrBadKey)
	}
	v := &Vault{hashKey: deriveKey(first, hashPurpose)}
	v.hashKCV = checkValue(v.hashKey)
	r := &ring{keys: map[uint8]cipher.AEAD{}, kcv: map[uint8]string{}, raw: map[uint8][]byte{}}
	if err := r.add(legacyKeyID, first); err != nil {
		return nil, err
	}
	for id, k := range more {
		if id <= legacyKeyID {
			return nil, fmt.Errorf("store: vault: key id %d: ids from 2 to %d (1 is card_key_file)", id, maxKeyID)
		}
		if err := r.add(id, k); err != nil {
			return nil, err
		}
	}
	v.ring.Store(r)
	return v, nil
}

func (r *ring) add(id uint8, key []byte) error {
	if len(key) != 32 {
		return fmt.Errorf("store: vault: key %d: %w", id, ErrBadKey)
	}
	enc := deriveKey(key, encPurpose)
	block, err := aes.NewCipher(enc)
	if err != nil {
		return fmt.Errorf("store: vault: key %d: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("store: vault: key %d: %w", id, err)
	}
	r.keys[id], r.kcv[id], r.raw[id] = aead, checkValue(enc), key
	return nil
}

// deriveKey derives an independent subkey per purpose, so that the
// encryption key never doubles as the hash key.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// checkValue names a key without revealing it: nodes compare it to know
// they hold the same key under one id.
func checkValue(key []byte) string {
	return hex.EncodeToString(deriveKey(key, kcvPurpose))[:kcvHexLen]
}

// Follow makes state the source of the current and retired keys (the
// store's CardKeys). Without it key 1 seals and none is retired.
func (v *Vault) Follow(state func() KeyState) { v.state.Store(&state) }

func (v *Vault) keyState() KeyState {
	if f := v.state.Load(); f != nil {
		return (*f)()
	}
	return KeyState{}
}

// Current is the id of the key that seals.
func (v *Vault) Current() uint8 { return v.keyState().current() }

// Seal encrypts pan for the transaction id and returns what the store
// keeps of it: the sealed number, its BIN (first six digits), its last
// four digits and its keyed hash. pan must be 12 to 19 digits.
func (v *Vault) Seal(pan, id string) (enc []byte, bin, last4 string, hash []byte, err error) {
	if !allDigits(pan) || len(pan) < 12 || len(pan) > 19 {
		return nil, "", "", nil, fmt.Errorf("store: vault: card number of %d characters is not 12-19 digits", len(pan))
	}
	enc, err = v.seal(pan, id)
	if err != nil {
		return nil, "", "", nil, err
	}
	return enc, pan[:6], pan[len(pan)-4:], v.Hash(pan), nil
}

func (v *Vault) seal(pan, id string) ([]byte, error) {
	kid := v.Current()
	aead, err := v.key(kid)
	if err != nil {
		return nil, err
	}
	var plain [sealPadded]byte
	plain[0] = byte(len(pan))
	copy(plain[1:], pan)
	out := make([]byte, 2+12, sealV1Len)
	out[0], out[1] = sealMagic, kid
	if _, err := rand.Read(out[2:]); err != nil {
		return nil, fmt.Errorf("store: vault: nonce: %w", err)
	}
	return aead.Seal(out, out[2:], plain[:], aad(out[:2], id)), nil
}

// Reseal opens enc of the transaction id and seals it again under the
// current key. It reports false when enc is already sealed under it.
func (v *Vault) Reseal(enc []byte, id string) ([]byte, bool, error) {
	kid := v.Current()
	if k, err := SealedKeyID(enc); err == nil && k == kid && !isLegacy(enc) {
		return enc, false, nil
	}
	pan, err := v.Open(enc, id)
	if err != nil {
		return nil, false, err
	}
	out, err := v.seal(pan, id)
	return out, err == nil, err
}

// key is the cipher of key id, reloading the key directory once if it is
// not loaded (an operator may have just added it).
func (v *Vault) key(id uint8) (cipher.AEAD, error) {
	if k, ok := v.ring.Load().keys[id]; ok {
		return k, nil
	}
	if v.dir != "" {
		if err := v.Reload(); err != nil {
			return nil, err
		}
		if k, ok := v.ring.Load().keys[id]; ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: key %d (add %d.key to card_key_dir on this node; key 1 is card_key_file)", ErrUnknownKey, id, id)
}

func aad(header []byte, id string) []byte {
	return append(append(make([]byte, 0, 2+len(id)), header...), id...)
}

func isLegacy(enc []byte) bool { return len(enc) >= legacyMinLen && len(enc) <= legacyMaxLen }

// SealedKeyID is the id of the key enc was sealed under (1 for the legacy
// format), from its form alone.
func SealedKeyID(enc []byte) (uint8, error) {
	switch {
	case isLegacy(enc):
		return legacyKeyID, nil
	case len(enc) == sealV1Len && enc[0] == sealMagic && enc[1] != 0:
		return enc[1], nil
	}
	return 0, fmt.Errorf("store: vault: sealed card number of %d bytes is neither format", len(enc))
}

// sealClass is the record count a sealed number counts in: its key id, or
// 0 for the legacy format; ok false for none or a malformed one.
func sealClass(enc []byte) (uint8, bool) {
	if len(enc) == 0 {
		return 0, false
	}
	if isLegacy(enc) {
		return 0, true
	}
	id, err := SealedKeyID(enc)
	return id, err == nil
}

// Open decrypts what Seal returned for the transaction id.
func (v *Vault) Open(enc []byte, id string) (string, error) {
	kid, err := SealedKeyID(enc)
	if err != nil {
		return "", err
	}
	if v.keyState().retired(kid) {
		return "", fmt.Errorf("%w: card of %s sealed under key %d", ErrKeyRetired, id, kid)
	}
	aead, err := v.key(kid)
	if err != nil {
		return "", fmt.Errorf("card of %s: %w", id, err)
	}
	if isLegacy(enc) {
		p, err := aead.Open(nil, enc[:12], enc[12:], nil)
		if err != nil {
			return "", fmt.Errorf("store: vault: open legacy card of %s with key 1: %w", id, err)
		}
		return string(p), nil
	}
	p, err := aead.Open(nil, enc[2:14], enc[14:], aad(enc[:2], id))
	if err != nil {
		return "", fmt.Errorf("store: vault: open card of %s with key %d (sealed for another transaction, or damaged): %w", id, kid, err)
	}
	if len(p) != sealPadded {
		return "", fmt.Errorf("store: vault: card of %s: %d bytes sealed", id, len(p))
	}
	if n := int(p[0]); n < 12 || n > 19 || !allDigits(string(p[1:1+n])) {
		return "", fmt.Errorf("store: vault: card of %s: bad padding", id)
	}
	return string(p[1 : 1+p[0]]), nil
}

// Hash is the keyed hash of pan: equal cards have equal hashes, for search
// and velocity counts.
func (v *Vault) Hash(pan string) []byte {
	m := hmac.New(sha256.New, v.hashKey)
	m.Write([]byte(pan))
	return m.Sum(nil)
}

// HashCheck names the hash key (its check value).
func (v *Vault) HashCheck() string { return v.hashKCV }

// Check is the check value of key id, ok false if not loaded.
func (v *Vault) Check(id uint8) (string, bool) {
	kcv, ok := v.ring.Load().kcv[id]
	return kcv, ok
}

// Loaded lists the loaded keys by id with their check values.
func (v *Vault) Loaded() map[uint8]string {
	r := v.ring.Load()
	out := make(map[uint8]string, len(r.kcv))
	for id, k := range r.kcv {
		out[id] = k
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
