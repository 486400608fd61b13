package adminapi

import (
	"context"
	"net/http"
	"time"
)

// CardKey is one card encryption key as GET /keys shows it.
type CardKey struct {
	ID uint8 `json:"id"`
	// Check is the key's check value on the answering node ("" if it does
	// not hold it): nodes holding one key under one id show one value.
	Check   string `json:"check,omitempty"`
	Loaded  bool   `json:"loaded"`
	Sealing bool   `json:"sealing"`
	Retired bool   `json:"retired"`
	// Records are the cards sealed under it (key 1's include the legacy
	// ones).
	Records int64 `json:"records"`
}

// KeyStatus is GET /keys: which key seals, the records per key, the
// re-seal, and what the answering node holds.
type KeyStatus struct {
	Node    string    `json:"node"`
	Sealing uint8     `json:"sealing"`
	Keys    []CardKey `json:"keys"`
	// LegacyRecords are sealed in the format before key ids (no key id,
	// no transaction binding): key 1 opens them, the re-seal converts
	// them.
	LegacyRecords int64 `json:"legacy_records"`
	// HashCheck names this node's keyed-hash key; ClusterHashCheck the
	// one the last rotation recorded ("" before any): they must match.
	HashCheck        string     `json:"hash_check"`
	ClusterHashCheck string     `json:"cluster_hash_check,omitempty"`
	Resealing        bool       `json:"resealing"`
	Cursor           uint64     `json:"reseal_cursor"`
	RotatedAt        *time.Time `json:"rotated_at,omitempty"`
}

// KeyChange is the body of POST /keys/rotate and /keys/retire.
type KeyChange struct {
	ID uint8 `json:"id"`
}

// Keys reads the card keys' status (GET /keys).
func (c *Client) Keys(ctx context.Context) (KeyStatus, error) {
	var k KeyStatus
	return k, c.do(ctx, http.MethodGet, "/keys", nil, &k)
}

// RotateKey makes key id current, once every node holds it, and starts
// the re-seal (POST /keys/rotate; leader only).
func (c *Client) RotateKey(ctx context.Context, id uint8) (KeyStatus, error) {
	var k KeyStatus
	return k, c.do(ctx, http.MethodPost, "/keys/rotate", KeyChange{ID: id}, &k)
}

// RetireKey retires key id once no record is sealed under it (POST
// /keys/retire; leader only).
func (c *Client) RetireKey(ctx context.Context, id uint8) (KeyStatus, error) {
	var k KeyStatus
	return k, c.do(ctx, http.MethodPost, "/keys/retire", KeyChange{ID: id}, &k)
}
