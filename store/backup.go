package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AppliedIndexOf reads the applied index recorded in a state file (a backup)
// without changing it.
func AppliedIndexOf(path string) (uint64, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", path, err)
	}
	defer db.Close()
	var applied uint64
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: no %s bucket: not a tillgate state file", ErrCorrupt, bucketMeta)
		}
		if v := meta.Get(metaSchema); string(v) != schemaVersion {
			return fmt.Errorf("%w: schema version %q, this binary knows %s", ErrCorrupt, v, schemaVersion)
		}
		if v := meta.Get(metaApplied); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", path, err)
	}
	return applied, nil
}
