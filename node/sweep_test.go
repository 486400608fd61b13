package node

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// oneNode starts a single real node (Raft, store, gnet) against acqsim.
func oneNode(t *testing.T) (*Node, *sim.Sim) {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	key := filepath.Join(dir, "card.key")
	if _, err := store.WriteNewKeyFile(key); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ID, cfg.DataDir, cfg.CardKeyFile, cfg.Bootstrap = "node1", filepath.Join(dir, "node1"), key, true
	cfg.RegisterAddr, cfg.RaftAddr, cfg.AdminAddr = freeAddr(t), freeAddr(t), ""
	cfg.Peers = []Peer{{ID: "node1", RaftAddr: cfg.RaftAddr, RegisterAddr: cfg.RegisterAddr}}
	cfg.Acquirer.Addr, cfg.Acquirer.Timeout = s.Addr(), 300*time.Millisecond
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	waitUntil(t, "the node to serve", n.Serving)
	return n, s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openIntent commits the INTENT of a purchase and nothing more, as a
// request does whose OUTCOME could not be committed while its node stayed
// the leader (its deadline passed during a slow commit, say).
func openIntent(t *testing.T, n *Node, stan string, age time.Duration) *store.Txn {
	t.Helper()
	req := &wire.Message{MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: 999, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: stan, TerminalID: "TSWEEP01", Currency: "978"}
	tx, rc := n.newTxn(context.Background(), req)
	if rc != "" {
		t.Fatalf("newTxn: %s", rc)
	}
	tx.CreatedAt = time.Now().Add(-age).UnixNano()
	res, err := n.raft.Apply(context.Background(), store.IntentCmd(tx))
	if err != nil || res.(store.Result).Err != nil {
		t.Fatalf("intent: %v %v", err, res)
	}
	return res.(store.Result).Txn
}

// TestSweepResolvesOpenIntents: an INTENT left open on a healthy active is
// resolved by the active itself, as a repeat, once it is older than a
// request can take; a younger one is left to its request.
func TestSweepResolvesOpenIntents(t *testing.T) {
	n, s := oneNode(t)
	old := openIntent(t, n, "000001", time.Hour)
	young := openIntent(t, n, "000002", 0)
	waitUntil(t, "the sweep", func() bool {
		tx, _, _ := n.store.Get(old.ID)
		return tx.Status != store.StatusPending
	})
	tx, _, _ := n.store.Get(old.ID)
	if tx.Status != store.StatusApproved || !tx.Repeat {
		t.Fatalf("swept INTENT %v repeat %v, want approved through a repeat", tx.Status, tx.Repeat)
	}
	if st := s.Stats(); st.Requests != 1 {
		t.Fatalf("acqsim saw %d requests, want the one repeat", st.Requests)
	}
	// The young one is swept too, but only once it is old enough.
	if tx, _, _ := n.store.Get(young.ID); tx.Status == store.StatusPending {
		n.sweepOnce(context.Background(), time.Now().Add(-time.Hour))
		if tx, _, _ := n.store.Get(young.ID); tx.Status != store.StatusPending {
			t.Fatalf("a sweep with a cutoff an hour ago resolved an INTENT of now")
		}
	}
}

// TestReversalResolvesItsOpenOriginalFirst: a register's reversal of a
// purchase whose INTENT is open (nobody working on it) first resolves the
// purchase with the acquirer, then reverses it: the acquirer sees the
// original before its reversal, and both ledgers net to zero.
func TestReversalResolvesItsOpenOriginalFirst(t *testing.T) {
	n, s := oneNode(t)
	orig := openIntent(t, n, "000010", 0)
	rev := &wire.Message{MTI: "0400", ProcCode: "000000", Amount: orig.Amount, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: "000011", TerminalID: orig.TerminalID,
		Currency: "978", OriginalData: "0200" + orig.STAN + orig.TransmissionTime + "0000000000000000000000"}
	resp := n.handle(context.Background(), rev)
	if resp == nil || resp.ResponseCode != wire.RCApproved {
		t.Fatalf("reversal answered %+v", resp)
	}
	tx, _, _ := n.store.Get(orig.ID)
	if tx.Status != store.StatusReversed || !tx.Repeat {
		t.Fatalf("original %v (repeat %v), want resolved through a repeat, then reversed", tx.Status, tx.Repeat)
	}
	tot, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	if p := tot.Net["purchase"]; p.Count != 0 {
		t.Fatalf("acquirer counts %+v: the reversal did not reach it after its original", p)
	}
}

// TestOutcomeAfterATermChangeIsARepeat: the OUTCOME of an INTENT proposed
// in an earlier term (leadership went away and came back while the
// acquirer was asked) says Repeat: the active of the term between may have
// asked the acquirer again. Found by the simulation (seed 301: transfers
// away and back within a request).
func TestOutcomeAfterATermChangeIsARepeat(t *testing.T) {
	n, _ := oneNode(t)
	tx := openIntent(t, n, "000020", 0)
	req := &wire.Message{MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: tx.Amount, HasAmount: true,
		TransmissionTime: tx.TransmissionTime, STAN: tx.STAN, TerminalID: tx.TerminalID, Currency: "978"}
	got := n.resolveFirst(context.Background(), tx, req, n.views.Current().Term-1)
	if got == nil || got.Status != store.StatusApproved || !got.Repeat {
		t.Fatalf("outcome %+v, want approved and Repeat", got)
	}
	tx2 := openIntent(t, n, "000021", 0)
	req.STAN = tx2.STAN
	if got := n.resolveFirst(context.Background(), tx2, req, n.views.Current().Term); got == nil || got.Repeat {
		t.Fatalf("outcome in the same term %+v, want no Repeat", got)
	}
}

// TestReversalSettlesAnOriginalThatAppearedAfterItsLookup: the original's
// INTENT was applied after the reversal looked for it (so the reversal
// found none) but before the reversal's own INTENT. The reversal must not
// go to the acquirer ahead of the still-open original (a strict acquirer
// answers 25 and the original then stands: found by tillbench with
// --pause-active); it settles the original first.
func TestReversalSettlesAnOriginalThatAppearedAfterItsLookup(t *testing.T) {
	n, s := oneNode(t)
	orig := openIntent(t, n, "000030", 0)
	rev := &store.Txn{ID: orig.TerminalID + "000031" + orig.TransmissionTime, Type: store.TypeReversal, MTI: "0400",
		ProcCode: "000000", Amount: orig.Amount, Currency: "978", TerminalID: orig.TerminalID, STAN: "000031",
		TransmissionTime: orig.TransmissionTime, OriginalID: orig.ID, Acquirer: orig.Acquirer,
		AcqTime: orig.AcqTime, CreatedAt: time.Now().UnixNano()}
	res, err := n.raft.Apply(context.Background(), store.IntentCmd(rev))
	if err != nil || res.(store.Result).Err != nil {
		t.Fatalf("reversal intent: %v %v", err, res)
	}
	got := n.resolve(context.Background(), res.(store.Result).Txn, nil, false)
	if got == nil || got.Status != store.StatusApproved {
		t.Fatalf("reversal %+v", got)
	}
	tx, _, _ := n.store.Get(orig.ID)
	if tx.Status != store.StatusReversed || !tx.Repeat {
		t.Fatalf("original %v (repeat %v), want resolved first (a repeat), then reversed", tx.Status, tx.Repeat)
	}
	if tot, _ := s.Totals(); tot.Net["purchase"].Count != 0 {
		t.Fatalf("acquirer counts %+v", tot.Net["purchase"])
	}
}
