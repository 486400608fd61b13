// Package nodetest starts the lower parts of one real node for the tests of
// the node's parts: a store, a Raft cluster of one voter over it, the card
// vault, the acquirer simulator and the links to it, and a leadership view
// that says this node serves.
package nodetest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/node/upstream"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// Rig is the parts, started.
type Rig struct {
	Store     *store.Store
	Raft      *cluster.Cluster
	Vault     *store.Vault
	Sim       *sim.Sim
	Acquirers *upstream.Set
	Views     *leadership.Tracker
}

// AcquirerTimeout is the rig's acquirer timeout; a node's request timeout
// is this plus 5 s.
const AcquirerTimeout = 300 * time.Millisecond

// Start starts the parts and waits until the node leads; its view then
// says it serves (no takeover runs: start one if the test wants it).
func Start(t testing.TB) *Rig {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &Rig{Sim: s, Views: leadership.NewTracker()}
	key, err := store.WriteNewKeyFile(filepath.Join(dir, "card.key"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Vault, err = store.NewVault(key); err != nil {
		t.Fatal(err)
	}
	r.openState(t, dir)
	r.openAcquirers(t, s.Addr())
	r.waitLeader(t)
	r.Register(t, store.TerminalRange{From: Terminal, Merchant: Merchant, Store: Store})
	return r
}

// The terminal the rig registers (its INTENTs are of it), with its
// merchant and store.
const (
	Terminal = "TSWEEP01"
	Merchant = "MERCHANT0000001"
	Store    = "store-1"
)

// Register adds terminals to the registry.
func (r *Rig) Register(t testing.TB, ranges ...store.TerminalRange) {
	t.Helper()
	r.apply(t, store.TerminalsAddCmd(time.Now().UnixNano(), ranges...))
}

// Block blocks (or unblocks) terminal id.
func (r *Rig) Block(t testing.TB, id string, blocked bool) {
	t.Helper()
	r.apply(t, store.TerminalsBlockCmd(store.TerminalRange{From: id}, blocked, time.Now().UnixNano()))
}

func (r *Rig) apply(t testing.TB, cmd []byte) {
	t.Helper()
	res, err := r.Raft.Apply(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	if rr, ok := res.(store.Result); !ok || rr.Err != nil {
		t.Fatalf("apply: %+v", res)
	}
}

func (r *Rig) openState(t testing.TB, dir string) {
	t.Helper()
	var err error
	if r.Store, err = store.Open(filepath.Join(dir, "state.db"), store.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Store.Close() })
	rc := cluster.DefaultConfig()
	addr := freeAddr(t)
	rc.ID, rc.Dir, rc.BindAddr, rc.AdvertiseAddr, rc.Bootstrap = "node1", filepath.Join(dir, "raft"), addr, addr, true
	rc.Peers = []cluster.Peer{{ID: "node1", Addr: addr}}
	if r.Raft, err = cluster.Open(rc, r.Store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Raft.Close() })
}

func (r *Rig) openAcquirers(t testing.TB, addr string) {
	t.Helper()
	cfg := acquirer.DefaultConfig()
	cfg.Addr, cfg.Timeout = addr, AcquirerTimeout
	var err error
	if r.Acquirers, err = upstream.Open([]upstream.Config{{Config: cfg}}, cfg.Name, wire.DefaultDialect(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Acquirers.Close() })
}

// waitLeader waits until the node leads and marks its view serving.
func (r *Rig) waitLeader(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !r.Raft.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the node to lead")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := r.Raft.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := cluster.Leadership{IsLeader: true, Term: r.Raft.Status().Term, LeaderID: "node1"}
	r.Views.Set(l, "")
	r.Views.MarkServing(l.Term)
}

// Halted is the rig as a node's health: it never halts.
func (r *Rig) Halted() error { return nil }

// Fail fails nothing: the tests look at what they check.
func (r *Rig) Fail(error) {}

// Intent commits the INTENT of a purchase of 999 on terminal TSWEEP01 with
// stan, created age ago, and nothing more: as a request does whose OUTCOME
// could not be committed while its node stayed the leader (its deadline
// passed during a slow commit, say). It is the INTENT the pipeline would
// have made of that request.
func (r *Rig) Intent(t testing.TB, stan string, age time.Duration) *store.Txn {
	t.Helper()
	pan := "4111111111111111"
	now := time.Now()
	id := "TSWEEP01" + stan + now.UTC().Format("0102150405")
	enc, bin, last4, hash, err := r.Vault.Seal(pan, id)
	if err != nil {
		t.Fatal(err)
	}
	tx := &store.Txn{ID: id, Type: store.TypePurchase, MTI: wire.MTIFinancial,
		ProcCode: "000000", Amount: 999, Currency: "978", TerminalID: "TSWEEP01", STAN: stan,
		TransmissionTime: now.UTC().Format("0102150405"), PANEnc: enc, BIN: bin, Last4: last4, PANHash: hash,
		Acquirer: r.Acquirers.Route(pan), AcqTime: now.UTC().Format("0102150405"), CreatedAt: now.Add(-age).UnixNano()}
	res, err := r.Raft.Apply(context.Background(), store.IntentCmd(tx))
	if err != nil || res.(store.Result).Err != nil {
		t.Fatalf("intent: %v %v", err, res)
	}
	return res.(store.Result).Txn
}

// WaitUntil polls cond with a generous bound: it bounds a hung test, it
// measures nothing.
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
