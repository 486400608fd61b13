package systemtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/internal/regsim"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/reseal"
	"github.com/tillgate/tillgate/store"
)

// TestKeyRotationUnderTraffic rotates the card key of a 3-node cluster
// while registers buy and reverse, stops the active in the middle of the
// re-seal, and checks that the next active finishes it, that key 1 can
// then be retired with no record left under it, and that every card on
// every node still opens (and the money checker finds nothing wrong: the
// owed reversals went out with their cards).
func TestKeyRotationUnderTraffic(t *testing.T) {
	keyDir := func(c *node.Config) string { return filepath.Join(filepath.Dir(c.DataDir), c.ID+"-keys") }
	e := mustStartTuned(t, func(c *node.Config) {
		c.CardKeyDir = keyDir(c)
		if err := os.MkdirAll(c.CardKeyDir, 0o700); err != nil {
			t.Fatal(err)
		}
		// Small batches, so that the re-seal is still under way when
		// the active stops.
		c.Reseal = reseal.Config{Batch: 16, Pause: 50 * time.Millisecond}
	})
	ctx, cancel := withTimeout(5 * time.Minute)
	defer cancel()
	f := regsim.New(e.fleetConfig(100, 0))
	done := make(chan struct{})
	var results []regsim.Result
	go func() { results = f.Run(ctx); close(done) }()
	waitFor(t, "approvals under key 1", func() bool { return f.Stats.Approved.Load() >= 400 })

	// Key 2 on two nodes of three: the rotation is refused, naming the
	// third.
	key2 := filepath.Join(keyDir(&e.cl.Configs[0]), "2.key")
	if _, err := store.WriteNewKeyFile(key2); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(key2)
	if err != nil {
		t.Fatal(err)
	}
	copyKey := func(i int) {
		if err := os.WriteFile(filepath.Join(keyDir(&e.cl.Configs[i]), "2.key"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyKey(1)
	leader := e.cl.Leader()
	_, err = e.admin(leader).RotateKey(ctx, 2)
	var apiErr *adminapi.APIError
	// The leader names node3 however it learnt it: asking node3, or, when
	// it is node3, looking at itself.
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 409 || !strings.Contains(err.Error(), "node3") ||
		!strings.Contains(err.Error(), "does not hold") || !strings.Contains(err.Error(), "key 2") {
		t.Fatalf("rotation with key 2 missing on node3: %v", err)
	}
	copyKey(2)
	st, err := e.admin(e.cl.Leader()).RotateKey(ctx, 2)
	if err != nil || st.Sealing != 2 || !st.Resealing {
		t.Fatalf("rotate: %+v, %v", st, err)
	}

	// Stop the active in the middle of the re-seal.
	leader = e.cl.Leader()
	waitFor(t, "a re-seal under way", func() bool {
		k := e.cl.Nodes[leader].Store().CardKeys()
		return k.Resealing && k.Cursor > 0
	})
	e.faults = append(e.faults, check.Fault{Kind: "stop", Target: e.cl.Configs[leader].ID, At: time.Now()})
	if err := e.cl.StopNode(leader); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	after := f.Stats.Approved.Load()
	waitFor(t, "approvals after the failover", func() bool { return f.Stats.Approved.Load() >= after+300 })
	cancel()
	<-done
	if err := e.cl.StartNode(leader); err != nil {
		t.Fatal(err)
	}

	// The next active finishes the pass (and goes round again for a card
	// sealed under key 1 just before the rotation committed).
	waitFor(t, "no record left under key 1", func() bool {
		i := e.cl.Leader()
		if i < 0 {
			return false
		}
		st, err := e.admin(i).Keys(context.Background())
		return err == nil && !st.Resealing && st.LegacyRecords == 0 && records(st, 1) == 0 && records(st, 2) > 0
	})
	e.waitQuiet(time.Minute)
	if n := e.checkInvariants(results); n < 700 {
		t.Errorf("only %d approvals", n)
	}
	st, err = e.admin(e.cl.Leader()).RetireKey(context.Background(), 1)
	if err != nil || len(st.Keys) == 0 || !st.Keys[0].Retired {
		t.Fatalf("retire key 1: %+v, %v", st, err)
	}
	if _, err := e.admin(e.cl.Leader()).RetireKey(context.Background(), 2); err == nil {
		t.Fatal("the key that seals was retired")
	}

	// The operator's actions are in the replicated audit log, refusals
	// included.
	audit, err := e.admin(e.cl.Leader()).Audit(context.Background(), adminapi.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range audit.Records {
		if strings.HasPrefix(r.Action, "key.") && len(r.Params) == 1 && r.Params[0].Name == "id" {
			seen[r.Action+" "+r.Params[0].Value+" "+strconv.Itoa(r.Status)]++
		}
	}
	for _, want := range []string{"key.rotate 2 409", "key.rotate 2 200", "key.retire 1 200", "key.retire 2 400"} {
		if seen[want] != 1 {
			t.Errorf("audit log: %q %d times, want once (seen %v)", want, seen[want], seen)
		}
	}

	// Every card on every node opens, under key 2, for its own
	// transaction; none is left under the retired key.
	for i, n := range e.cl.Nodes {
		cfg := e.cl.Configs[i]
		v, err := store.LoadVault(cfg.CardKeyFile, cfg.CardKeyDir)
		if err != nil {
			t.Fatal(err)
		}
		s := n.Store()
		v.Follow(s.CardKeys)
		waitFor(t, cfg.ID+" applied the retirement", func() bool { return len(s.CardKeys().Retired) == 1 })
		counts, err := s.SealedRecords()
		if err != nil || counts[0] != 0 || counts[1] != 0 || counts[2] == 0 {
			t.Fatalf("%s: records per key %v, %v", cfg.ID, counts, err)
		}
		txns, _, _, err := s.TxnsFrom(0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		opened := 0
		for _, tx := range txns {
			if len(tx.PANEnc) == 0 {
				continue
			}
			if id, _ := store.SealedKeyID(tx.PANEnc); id != 2 || len(tx.PANEnc) != 50 {
				t.Fatalf("%s: %s sealed under key %d (%d bytes)", cfg.ID, tx.ID, id, len(tx.PANEnc))
			}
			pan, err := v.Open(tx.PANEnc, tx.ID)
			if err != nil || pan[:6] != tx.BIN || pan[len(pan)-4:] != tx.Last4 {
				t.Fatalf("%s: card of %s: %v", cfg.ID, tx.ID, err)
			}
			opened++
		}
		if opened < 700 {
			t.Fatalf("%s: only %d cards", cfg.ID, opened)
		}
	}
}

func records(st adminapi.KeyStatus, id uint8) int64 {
	for _, k := range st.Keys {
		if k.ID == id {
			return k.Records
		}
	}
	return 0
}
