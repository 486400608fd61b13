package pipeline

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/node/internal/nodetest"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// newPipeline is a pipeline over the rig's parts, a standby's relay that
// has nowhere to relay, and a store-and-forward that sends nothing.
func newPipeline(r *nodetest.Rig, views Leadership) *Pipeline {
	return New(Config{
		NodeID: "node1", RelayTimeout: nodetest.AcquirerTimeout + 7*time.Second, Closing: make(chan struct{}),
		Raft: r.Raft, State: r.Store, Acquirers: r.Acquirers, Vault: r.Vault, Views: views,
		Relay: noRelay{}, SAF: noSAF{}, Health: r,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry(),
	})
}

type noRelay struct{}

func (noRelay) Link() *acquirer.Link { return nil }

type noSAF struct{}

func (noSAF) Wake(string) {}

// openIntent commits the INTENT of a purchase and nothing more, as a
// request does whose OUTCOME could not be committed while its node stayed
// the leader (its deadline passed during a slow commit, say).
func openIntent(t *testing.T, p *Pipeline, r *nodetest.Rig, stan string) *store.Txn {
	t.Helper()
	req := &wire.Message{MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: 999, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: stan, TerminalID: "TSWEEP01", Currency: "978"}
	tx, rc := p.newTxn(context.Background(), req, nil)
	if rc != "" {
		t.Fatalf("newTxn: %s", rc)
	}
	res, err := r.Raft.Apply(context.Background(), store.IntentCmd(tx))
	if err != nil || res.(store.Result).Err != nil {
		t.Fatalf("intent: %v %v", err, res)
	}
	return res.(store.Result).Txn
}

// TestReversalResolvesItsOpenOriginalFirst: a register's reversal of a
// purchase whose INTENT is open (nobody working on it) first resolves the
// purchase with the acquirer, then reverses it: the acquirer sees the
// original before its reversal, and both ledgers net to zero.
func TestReversalResolvesItsOpenOriginalFirst(t *testing.T) {
	r := nodetest.Start(t)
	p := newPipeline(r, r.Views)
	orig := openIntent(t, p, r, "000010")
	rev := &wire.Message{MTI: "0400", ProcCode: "000000", Amount: orig.Amount, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: "000011", TerminalID: orig.TerminalID,
		Currency: "978", OriginalData: "0200" + orig.STAN + orig.TransmissionTime + "0000000000000000000000"}
	resp := p.Handle(context.Background(), rev)
	if resp == nil || resp.ResponseCode != wire.RCApproved {
		t.Fatalf("reversal answered %+v", resp)
	}
	tx, _, _ := r.Store.Get(orig.ID)
	if tx.Status != store.StatusReversed || !tx.Repeat {
		t.Fatalf("original %v (repeat %v), want resolved through a repeat, then reversed", tx.Status, tx.Repeat)
	}
	tot, err := r.Sim.Totals()
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
	r := nodetest.Start(t)
	p := newPipeline(r, r.Views)
	tx := openIntent(t, p, r, "000020")
	req := &wire.Message{MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: tx.Amount, HasAmount: true,
		TransmissionTime: tx.TransmissionTime, STAN: tx.STAN, TerminalID: tx.TerminalID, Currency: "978"}
	got := p.resolveFirst(context.Background(), tx, req, r.Views.Current().Term-1, nil)
	if got == nil || got.Status != store.StatusApproved || !got.Repeat {
		t.Fatalf("outcome %+v, want approved and Repeat", got)
	}
	tx2 := openIntent(t, p, r, "000021")
	req.STAN = tx2.STAN
	if got := p.resolveFirst(context.Background(), tx2, req, r.Views.Current().Term, nil); got == nil || got.Repeat {
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
	r := nodetest.Start(t)
	p := newPipeline(r, r.Views)
	orig := openIntent(t, p, r, "000030")
	rev := &store.Txn{ID: orig.TerminalID + "000031" + orig.TransmissionTime, Type: store.TypeReversal, MTI: "0400",
		ProcCode: "000000", Amount: orig.Amount, Currency: "978", TerminalID: orig.TerminalID, STAN: "000031",
		TransmissionTime: orig.TransmissionTime, OriginalID: orig.ID, Acquirer: orig.Acquirer,
		AcqTime: orig.AcqTime, CreatedAt: time.Now().UnixNano()}
	res, err := r.Raft.Apply(context.Background(), store.IntentCmd(rev))
	if err != nil || res.(store.Result).Err != nil {
		t.Fatalf("reversal intent: %v %v", err, res)
	}
	got := p.resolve(context.Background(), res.(store.Result).Txn, nil, false, nil)
	if got == nil || got.Status != store.StatusApproved {
		t.Fatalf("reversal %+v", got)
	}
	tx, _, _ := r.Store.Get(orig.ID)
	if tx.Status != store.StatusReversed || !tx.Repeat {
		t.Fatalf("original %v (repeat %v), want resolved first (a repeat), then reversed", tx.Status, tx.Repeat)
	}
	if tot, _ := r.Sim.Totals(); tot.Net["purchase"].Count != 0 {
		t.Fatalf("acquirer counts %+v", tot.Net["purchase"])
	}
}

// TestNotProcessedOnlyBeforeAProposal: a node that cannot relay answers
// NP ("resend, nothing happened") to a request it never proposed, and
// nothing to one whose INTENT it may have proposed while it led (the
// carry-on): NP there could make the register skip the reversal it owes.
func TestNotProcessedOnlyBeforeAProposal(t *testing.T) {
	p := New(Config{Views: leadership.NewTracker(), Relay: noRelay{}, // no active known
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	req := &wire.Message{MTI: "0200", STAN: "000001", TransmissionTime: "1203101112", TerminalID: "T0000001"}
	if resp := p.relayToActive(context.Background(), req, false); resp == nil || resp.ResponseCode != wire.RCIssuerInoperative {
		t.Fatalf("never proposed: %+v, want NP", resp)
	} else if np, _ := resp.Private.Get(TagNotProcessed); np != "1" {
		t.Fatalf("never proposed: answered without NP")
	} else if na, _ := resp.Private.Get(wire.TagNoActive); na != "1" {
		t.Fatalf("a node that knows no active must say so (NA): %v", resp.Private)
	}
	if resp := p.relayToActive(context.Background(), req, true); resp != nil {
		t.Fatalf("maybe proposed: answered %s NP=%v, want no answer", resp.ResponseCode, resp.Private)
	}
}

func TestStandInAuthCode(t *testing.T) {
	if got := standInAuthCode(&store.Txn{AcqSTAN: "123456"}); got != "S23456" {
		t.Fatalf("auth code %q", got)
	}
}

// deposed is a leader that does not know yet that it was deposed (it was
// paused, or cut off): it reads the state it applied, and its Barrier
// fails.
type deposed struct{ *cluster.Cluster }

func (deposed) Barrier(context.Context) error { return cluster.ErrNotLeader }

// TestDeposedLeaderDoesNotResolve: a leader that was paused with an INTENT
// open, and whose OUTCOME the next active may have committed already, must
// not ask the acquirer about it again on a repeat or a reversal: the
// acquirer would see a repeat that no node records (found by the process
// failover test: a resumed active's sweep sent 0201s it could not commit).
func TestDeposedLeaderDoesNotResolve(t *testing.T) {
	r := nodetest.Start(t)
	p := newPipeline(r, r.Views)
	orig := openIntent(t, p, r, "000030")
	p.cfg.Raft = deposed{r.Raft}
	repeat := &wire.Message{MTI: "0201", PAN: "4111111111111111", ProcCode: "000000", Amount: orig.Amount, HasAmount: true,
		TransmissionTime: orig.TransmissionTime, STAN: orig.STAN, TerminalID: orig.TerminalID, Currency: "978"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if tx, _ := p.transactOwned(ctx, repeat, repeat.Key(), nil); tx != nil {
		t.Errorf("repeat answered %+v, want no answer from a deposed leader", tx)
	}
	if _, err := p.settled(ctx, orig.ID, nil); err == nil {
		t.Errorf("a reversal's original settled on a deposed leader, want an error")
	}
	if st := r.Sim.Stats(); st.Requests != 0 {
		t.Fatalf("acqsim saw %d requests from a deposed leader, want none", st.Requests)
	}
	if tx, _, _ := r.Store.Get(orig.ID); tx.Status != store.StatusPending {
		t.Fatalf("original %v, want still open (the next active resolves it)", tx.Status)
	}
}
