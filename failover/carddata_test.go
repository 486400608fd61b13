package failover

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillgate/tillgate/wire"
)

// Card data on the register side: what the store-and-forward queue keeps
// on disk (no clear PAN, no track, PIN block or ICC), the queue key, the
// upgrade of a file from before sealing, and hints to unknown nodes.

const (
	testPAN    = "4111111111111111"
	testTrack2 = "4111111111111111=30121010000012300000"
)

var (
	testPIN = []byte{0x04, 0x12, 0x6E, 0xEB, 0xA9, 0x87, 0x65, 0x43}
	testICC = []byte{0x9F, 0x26, 0x08, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8}
)

// cardSecrets are the byte forms of the test card data a file must not
// hold: PAN and track 2 as text, PIN block and ICC raw and as hex.
func cardSecrets() map[string][]byte {
	return map[string][]byte{
		"PAN": []byte(testPAN), "track 2": []byte(testTrack2),
		"PIN block": testPIN, "PIN block hex": []byte(strings.ToUpper(hex.EncodeToString(testPIN))),
		"ICC": testICC, "ICC hex": []byte(strings.ToUpper(hex.EncodeToString(testICC))),
	}
}

// cardDataIn names the secrets found in the file at path.
func cardDataIn(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for name, s := range cardSecrets() {
		if bytes.Contains(b, s) || bytes.Contains(bytes.ToLower(b), bytes.ToLower(s)) {
			found = append(found, name)
		}
	}
	return found
}

// withCard returns m carrying every kind of card data a chip-and-PIN
// register sends.
func withCard(m *wire.Message, pan bool) *wire.Message {
	m.PAN, m.Track2, m.PINBlock, m.ICC = "", testTrack2, testPIN, testICC
	if pan {
		m.PAN = testPAN
	}
	return m
}

// advice returns an 0120 (pre-auth approved offline) or a 0220 completion
// of a pre-auth, as a register sends them.
func advice(mti string) *wire.Message {
	m := purchase(100)
	m.MTI, m.AuthCode = mti, "Y12345"
	if mti == wire.MTIFinancialAdvice {
		m.OriginalData = wire.OriginalDataFor(wire.MTIAuth, "000999", m.TransmissionTime)
	}
	return m
}

// TestQueueKeepsNoClearCardData: advices and purchases with DE2, DE35,
// DE52 and DE55 whose outcome stays unknown are queued; the file holds
// none of that card data in any form, the entries of 0120s hold their
// card sealed, and a restarted client delivers them with the card (0120)
// or without it (0220 and reversals: the node takes it from DE90's
// original).
func TestQueueKeepsNoClearCardData(t *testing.T) {
	silent := newFake(t, echoOnly)
	cfg := testConfig(t, silent.Addr)
	cfg.Deadline, cfg.AttemptTimeout = 300*time.Millisecond, 100*time.Millisecond
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*wire.Message{
		withCard(advice(wire.MTIAuthAdvice), true),
		withCard(advice(wire.MTIAuthAdvice), false), // track 2 only: the PAN is taken from it
		withCard(advice(wire.MTIFinancialAdvice), true),
		withCard(purchase(500), false),
	}
	for _, req := range reqs {
		if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("%s: %v, want an unknown outcome", req.MTI, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if found := cardDataIn(t, cfg.ReversalQueue); len(found) != 0 {
		t.Fatalf("the queue file holds clear %v", found)
	}
	sealed := 0
	db, err := bolt.Open(cfg.ReversalQueue, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQueue).ForEach(func(_, v []byte) error {
			if bytes.Contains(v, []byte(`"card":"`)) {
				sealed++
			}
			return nil
		})
	})
	db.Close()
	if sealed != 2 {
		t.Fatalf("%d entries with a sealed card, want the two 0120s", sealed)
	}

	// Restarted against a node that answers: each goes once, with the card
	// only where no original names it.
	node := newFake(t, approve)
	cfg.Nodes = []string{node.Addr}
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = 50*time.Millisecond, 200*time.Millisecond
	rec := &recorder{}
	cfg.OnEvent = rec.add
	c2 := open(t, cfg)
	eventually(t, "all four acknowledged", func() bool { return rec.count(EventReversalAcked, nil) == 4 })
	got := node.Received("0121", "0221", "0400", "0401")
	if len(got) != 4 {
		t.Fatalf("node got %d, want 4", len(got))
	}
	for _, m := range got {
		want := map[string]string{"0121": testPAN}[m.MTI]
		if m.PAN != want || m.Track2 != "" || m.PINBlock != nil || m.ICC != nil || m.Expiry != "" {
			t.Fatalf("%s delivered with DE2 %q DE35 %q DE52 %x DE55 %x DE14 %q; want DE2 %q and no other card data",
				m.MTI, m.PAN, m.Track2, m.PINBlock, m.ICC, m.Expiry, want)
		}
	}
	if n := len(queued(t, c2)); n != 0 {
		t.Fatalf("%d left queued", n)
	}
}

// TestQueueKey: a key file others may read, or not a 256-bit hex key, is
// refused at Open; without a key an 0120 that names a card is refused
// before anything is sent, while everything else works; a file holding
// sealed cards does not open without its key, nor with another.
func TestQueueKey(t *testing.T) {
	node := newFake(t, approve)
	cfg := testConfig(t, node.Addr)
	if err := os.Chmod(cfg.QueueKeyFile, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("key readable by its group: %v", err)
	}
	if err := os.Chmod(cfg.QueueKeyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.QueueKeyFile, []byte("0011\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("short key: %v", err)
	}
	if err := WriteQueueKeyFile(cfg.QueueKeyFile); err == nil {
		t.Fatal("WriteQueueKeyFile overwrote a key file")
	}

	noKey := cfg
	noKey.QueueKeyFile = ""
	c := open(t, noKey)
	req := advice(wire.MTIAuthAdvice)
	if _, err := c.Do(context.Background(), req); !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "QueueKeyFile") {
		t.Fatalf("0120 without a queue key: %v", err)
	}
	if got := node.Received("0120"); len(got) != 0 {
		t.Fatal("the refused 0120 was sent")
	}
	for _, m := range []*wire.Message{purchase(1), advice(wire.MTIFinancialAdvice)} {
		if resp, err := c.Do(context.Background(), m); err != nil || resp.ResponseCode != wire.RCApproved {
			t.Fatalf("%s without a queue key: %v %+v", m.MTI, err, resp)
		}
	}
	c.Close()

	// A sealed entry left in the file.
	withKey := testConfig(t, deadAddr(t))
	withKey.ReversalQueue = filepath.Join(t.TempDir(), "q.db")
	withKey.Deadline, withKey.AttemptTimeout = 300*time.Millisecond, 100*time.Millisecond
	silent := newFake(t, echoOnly)
	withKey.Nodes = []string{silent.Addr}
	c = open(t, withKey)
	if _, err := c.Do(context.Background(), advice(wire.MTIAuthAdvice)); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("0120 to a silent node: %v", err)
	}
	c.Close()
	bare := withKey
	bare.QueueKeyFile = ""
	if _, err := Open(bare); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("sealed entries, no key: %v", err)
	}
	other := withKey
	other.QueueKeyFile = filepath.Join(t.TempDir(), "other.key")
	if err := WriteQueueKeyFile(other.QueueKeyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(other); err == nil || !strings.Contains(err.Error(), "does not open with the queue key") {
		t.Fatalf("sealed entries, another key: %v", err)
	}
	if c, err := Open(withKey); err != nil {
		t.Fatalf("its own key: %v", err)
	} else {
		c.Close()
	}
}

// TestQueueUpgradeRemovesClearCards: a file written by the client from
// before sealing holds clear DE2 of its queued advices, and of advices
// delivered and removed long ago (bbolt does not wipe freed pages). The
// first Open with a queue key seals the 0120s, drops DE2 of the 0220s and
// compacts the file: no clear PAN anywhere in it, the entries still
// there. Without a key the 0120's card stays (and is logged), and a later
// Open with the key seals it.
func TestQueueUpgradeRemovesClearCards(t *testing.T) {
	for _, keyFirst := range []bool{true, false} {
		name := map[bool]string{true: "with_key", false: "key_later"}[keyFirst]
		t.Run(name, func(t *testing.T) {
			node := newFake(t, echoOnly)
			cfg := testConfig(t, node.Addr)
			a120, a220 := advice(wire.MTIAuthAdvice), advice(wire.MTIFinancialAdvice)
			writeBeforeSealing(t, cfg.ReversalQueue, a120, a220)
			if found := cardDataIn(t, cfg.ReversalQueue); len(found) == 0 {
				t.Fatal("the old file holds no clear PAN: the scan proves nothing")
			}
			if !keyFirst {
				bare := cfg
				bare.QueueKeyFile = ""
				c, err := Open(bare)
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				if found := cardDataIn(t, cfg.ReversalQueue); len(found) == 0 {
					t.Fatal("without a key the 0120's card was dropped")
				}
			}
			cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = time.Hour, time.Hour
			c := open(t, cfg)
			es := queued(t, c)
			if len(es) != 2 || es[0].Msg.PAN != testPAN || es[1].Msg.PAN != "" ||
				es[0].Msg.Key() != a120.Key() || es[1].Msg.Key() != a220.Key() {
				t.Fatalf("entries after the upgrade: %+v", es)
			}
			c.Close()
			if found := cardDataIn(t, cfg.ReversalQueue); len(found) != 0 {
				t.Fatalf("after the upgrade the file still holds clear %v", found)
			}
			if _, err := os.Stat(cfg.ReversalQueue + ".compact"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("compaction left its copy: %v", err)
			}
		})
	}
}

// writeBeforeSealing writes a queue file as the client before sealing
// did: the advices queued with clear DE2, and before them 20 delivered
// advices, removed since.
func writeBeforeSealing(t *testing.T, path string, queued ...*wire.Message) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(m *wire.Message) uint64 {
		var id uint64
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucketQueue)
			if err != nil {
				return err
			}
			keys, err := tx.CreateBucketIfNotExists(bucketKeys)
			if err != nil {
				return err
			}
			e := &entry{Msg: *m, Of: m.Key(), Sent: true, Created: time.Now().UnixNano()}
			e.Msg.MTI = wire.RepeatMTI(m.MTI)
			e.ID, _ = b.NextSequence()
			id = e.ID
			if err := keys.Put([]byte(m.Key()), idKey(e.ID)); err != nil {
				return err
			}
			return putOld(b, e)
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for range 20 {
		m := advice(wire.MTIAuthAdvice)
		id := put(m)
		err := db.Update(func(tx *bolt.Tx) error { return deleteKeys(tx, idKey(id), m.Key()) })
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range queued {
		put(m)
	}
}

// TestHintToUnknownNodeIgnored: a register follows hints only to the
// nodes it was configured with. A hint (AN, newer term) naming another
// address, in an answer or a "not processed", is ignored, counted and
// logged: the requests stay with the configured node and the other
// address never sees a byte.
func TestHintToUnknownNodeIgnored(t *testing.T) {
	stranger := newFake(t, approve)
	a := newFake(t, approve)
	c := open(t, testConfig(t, a.Addr))
	a.SetHint(stranger.Addr, 7)
	for i := range 3 {
		if resp, err := c.Do(context.Background(), purchase(int64(100+i))); err != nil || resp.ResponseCode != wire.RCApproved {
			t.Fatalf("Do: %v %+v", err, resp)
		}
	}
	if c.Active() != a.Addr || len(stranger.Received("0200", "0800")) != 0 {
		t.Fatalf("active %s; the unknown node got %d messages", c.Active(), len(stranger.Received("0200", "0800")))
	}
	if n := c.Stats().HintsIgnored; n < 3 {
		t.Fatalf("HintsIgnored %d, want one per answer", n)
	}

	np := newFake(t, notProcessedTo(stranger.Addr))
	cfg := testConfig(t, np.Addr)
	c2 := open(t, cfg)
	if _, err := c2.Do(context.Background(), purchase(9)); !errors.Is(err, ErrNotSent) {
		t.Fatalf("NP naming an unknown active: %v, want ErrNotSent", err)
	}
	if len(stranger.Received("0200", "0800")) != 0 || c2.Stats().HintsIgnored == 0 {
		t.Fatal("followed an NP's hint to an unknown node")
	}
}
