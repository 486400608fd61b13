package failover

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/tillgate/tillgate/wire"
)

// keyCardFormat in the meta bucket marks a queue file whose every page is
// free of clear card numbers: written only by a client that seals them.
var keyCardFormat = []byte("card_format")

const cardFormatSealed = "sealed-1"

// upgradeReport is what upgrade did to a file from before sealing.
type upgradeReport struct {
	upgraded  bool // the file was from before sealing, and compacted
	rewritten int  // entries rewritten without a clear card number
	leftClear int  // 0120s whose card stays clear: no queue key to seal it
}

// upgrade makes a queue file written by a client from before sealing free
// of clear card numbers, once. It is the file store's own: a SharedQueue
// never held a clear one. (That every sealed card opens with the
// configured key the queue checks, whichever the store: newQueue.)
//
// The old client kept DE2 of every queued advice in clear JSON. Queued
// 0220s lose it (the node takes the card from the original DE90 names);
// 0120s get it sealed. bbolt does not wipe the pages a commit frees, so the
// card numbers of entries delivered and removed long ago may still be in
// the file: the file is then compacted (only live data copied) into a new
// one that replaces it. Without a queue key an 0120's card stays as it was,
// and the file is left unmarked, so that the next Open with a key seals it.
func (s *fileStore) upgrade(path string, seal *sealer) (upgradeReport, error) {
	var rep upgradeReport
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		b := tx.Bucket(bucketQueue)
		marked := string(meta.Get(keyCardFormat)) == cardFormatSealed
		if marked {
			return nil // the queue checks that the sealed cards open
		}
		if b.Sequence() == 0 {
			// Nothing was ever queued: a new file, clean.
			return meta.Put(keyCardFormat, []byte(cardFormatSealed))
		}
		var todo []*entry
		err := b.ForEach(func(k, v []byte) error {
			e := &entry{}
			if err := json.Unmarshal(v, e); err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			e.ID = idFromKey(k)
			if e.Card != nil {
				// Sealed already: it must open with this key before
				// anything is rewritten under it.
				if err := openCard(seal, e); err != nil {
					if errors.Is(err, errNoQueueKey) {
						return fmt.Errorf("%w: entry %x holds a card number sealed with a queue key: set QueueKeyFile to that key", ErrConfig, k)
					}
					return err
				}
				return nil
			}
			m := &e.Msg
			if m.PAN == "" && m.Track2 == "" && m.PINBlock == nil && m.ICC == nil && m.Expiry == "" {
				return nil
			}
			if wire.OriginalMTI(m.MTI) == wire.MTIFinancialAdvice {
				m.PAN = "" // the node takes the card from the original (DE90)
			}
			if m.PAN != "" && seal == nil {
				rep.leftClear++
				return nil
			}
			todo = append(todo, e)
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range todo {
			sealed, err := sealCard(seal, e)
			if err != nil {
				return err
			}
			if err := putEntry(b, sealed); err != nil {
				return err
			}
			rep.rewritten++
		}
		rep.upgraded = true
		if rep.leftClear > 0 {
			return nil
		}
		return meta.Put(keyCardFormat, []byte(cardFormatSealed))
	})
	if err != nil || !rep.upgraded {
		return rep, err
	}
	db, err := compact(s.db, path)
	if err != nil {
		return rep, err
	}
	s.db = db
	return rep, nil
}

// compact copies db's live data into a new file that replaces path, and
// returns it open: the pages of the old file, card numbers in freed ones
// included, go with it. A crash before the rename leaves the old file and
// a stray copy, which the next compaction replaces.
func compact(db *bolt.DB, path string) (*bolt.DB, error) {
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("compact: %w", err)
	}
	dst, err := bolt.Open(tmp, 0o600, queueOptions())
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	err = bolt.Compact(dst, db, 0)
	if err == nil {
		err = dst.Sync()
	}
	if err = errors.Join(err, dst.Close()); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("compact: %w", err)
	}
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("compact: close: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the rename survives a power loss
		d.Close()
	}
	return openQueueDB(path)
}

func idFromKey(k []byte) uint64 { return binary.BigEndian.Uint64(k) }
