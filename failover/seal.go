package failover

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The card number of a queued 0120 (an authorization the register approved
// offline: no original names its card) is the one piece of card data the
// queue must keep, and it keeps it sealed (AES-256-GCM) under the
// register's queue key (Config.QueueKeyFile). Everything else is left out
// of the queue: track 2, PIN block, ICC, expiry always; the PAN of
// reversals and 0220 completions, which the node takes from the original
// their DE90 names.

// sealVersion is the first byte of a sealed card: the format (nonce, then
// ciphertext and tag), so that another can follow.
const sealVersion = 1

// errNoQueueKey: an entry names a card and no queue key is configured.
var errNoQueueKey = errors.New("no queue key (Config.QueueKeyFile) to seal the card number with")

// sealer seals and opens queued card numbers.
type sealer struct{ aead cipher.AEAD }

// loadQueueKey reads a queue key file: 64 hex digits (a 256-bit key), in a
// file that only its owner may read or write. A key that others can read
// protects nothing, so a looser file is refused rather than used.
func loadQueueKey(path string) (*sealer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: queue key: %w", ErrConfig, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: queue key %s has permissions %#o: group and others must have none (chmod 600 %s)", ErrConfig, path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: queue key: %w", ErrConfig, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%w: queue key %s: want 64 hex digits (a 256-bit key), as WriteQueueKeyFile writes", ErrConfig, path)
	}
	return newSealer(key)
}

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: queue key: %w", ErrConfig, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: queue key: %w", ErrConfig, err)
	}
	return &sealer{aead: aead}, nil
}

// WriteQueueKeyFile writes a new random queue key to path (mode 0600,
// synced). It refuses to overwrite a file: losing the key loses the card
// numbers of the advices still queued.
func WriteQueueKeyFile(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("failover: queue key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("failover: queue key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("failover: queue key %s: %w", path, err)
	}
	return nil
}

// sealAAD binds a sealed card to its entry: a ciphertext copied into
// another entry does not open.
func sealAAD(of string) []byte { return []byte("tillgate/failover/queue/card\x00" + of) }

// seal returns pan sealed for the entry that settles request of.
func (s *sealer) seal(pan, of string) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(pan)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal card: %w", err)
	}
	return s.aead.Seal(out, out[1:], []byte(pan), sealAAD(of)), nil
}

// open returns the card number sealed for the entry of request of.
func (s *sealer) open(b []byte, of string) (string, error) {
	ns := s.aead.NonceSize()
	if len(b) < 1+ns+s.aead.Overhead() || b[0] != sealVersion {
		return "", errors.New("sealed card: unknown format")
	}
	pan, err := s.aead.Open(nil, b[1:1+ns], b[1+ns:], sealAAD(of))
	if err != nil {
		return "", fmt.Errorf("sealed card: does not open with the queue key (another key, or altered): %w", err)
	}
	return string(pan), nil
}

// sealCard returns e as a store keeps it: a copy with its card number, if
// any, sealed into Card, and no other card data (settlementFor left none;
// an entry from a file before sealing may have had some). Without a key
// an entry naming a card is refused: no store gets a clear one.
func sealCard(s *sealer, e *entry) (*entry, error) {
	c := *e
	c.Msg.Track2, c.Msg.PINBlock, c.Msg.ICC, c.Msg.Expiry, c.Card = "", nil, nil, "", nil
	if pan := c.Msg.PAN; pan != "" {
		if s == nil {
			return nil, errNoQueueKey
		}
		card, err := s.seal(pan, c.Of)
		if err != nil {
			return nil, err
		}
		c.Msg.PAN, c.Card = "", card
	}
	return &c, nil
}

// openCard opens, in place, the card number a store returned e with.
func openCard(s *sealer, e *entry) error {
	if e.Card == nil {
		return nil
	}
	if s == nil {
		return fmt.Errorf("reversal queue: entry %d: %w", e.ID, errNoQueueKey)
	}
	pan, err := s.open(e.Card, e.Of)
	if err != nil {
		return fmt.Errorf("reversal queue: entry %d: %w", e.ID, err)
	}
	e.Msg.PAN, e.Card = pan, nil
	return nil
}
