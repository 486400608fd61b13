package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tillgate/tillgate/node/internal/nodetest"
	"github.com/tillgate/tillgate/node/internal/peer"
	"github.com/tillgate/tillgate/node/leadership"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

func sale(tid, stan string) *wire.Message {
	return &wire.Message{MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: 1000, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: stan, TerminalID: tid,
		MerchantID: nodetest.Merchant, Currency: "978"}
}

func reversalOf(orig *wire.Message, stan string) *wire.Message {
	return &wire.Message{MTI: "0400", ProcCode: "000000", Amount: orig.Amount, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: stan, TerminalID: orig.TerminalID,
		MerchantID: orig.MerchantID, Currency: "978", OriginalData: wire.OriginalDataFor(orig.MTI, orig.STAN, orig.TransmissionTime)}
}

// refusedExactly handles req and checks its answer is rc, that nothing was
// proposed for it (the applied index did not move, no record), and that
// the refusal was counted under reason.
func refusedExactly(t *testing.T, ctx context.Context, p *Pipeline, r *nodetest.Rig, req *wire.Message, rc, reason string) {
	t.Helper()
	before := r.Store.AppliedIndex()
	count := counterValue(p.metrics.terminalRefusals.WithLabelValues(reason))
	resp := p.Handle(ctx, req)
	if resp == nil || resp.ResponseCode != rc {
		t.Fatalf("%s answered %+v, want %s", req.MTI, resp, rc)
	}
	if resp.MTI != wire.ResponseMTI(req.MTI) || resp.STAN != req.STAN || resp.TerminalID != req.TerminalID {
		t.Fatalf("answer does not echo the request: %+v", resp)
	}
	if got := r.Store.AppliedIndex(); got != before {
		t.Fatalf("applied index %d -> %d: something was proposed for a refused request", before, got)
	}
	if _, ok, _ := r.Store.Get(req.Key()); ok {
		t.Fatalf("refused request %s recorded", req.Key())
	}
	if got := counterValue(p.metrics.terminalRefusals.WithLabelValues(reason)); got != count+1 {
		t.Fatalf("refusals{reason=%s} %v -> %v", reason, count, got)
	}
}

func approved(t *testing.T, ctx context.Context, p *Pipeline, req *wire.Message) *wire.Message {
	t.Helper()
	resp := p.Handle(ctx, req)
	if resp == nil || resp.ResponseCode != wire.RCApproved {
		t.Fatalf("%s %s answered %+v, want 00", req.MTI, req.TerminalID, resp)
	}
	return resp
}

func TestUnknownTerminalRefused(t *testing.T) {
	r := nodetest.Start(t)
	p := newPipeline(r, r.Views)
	ctx := context.Background()
	refusedExactly(t, ctx, p, r, sale("TUNKNOWN", "000001"), wire.RCNotPermittedTerminal, refusedUnknown)
	// A reversal from a terminal nobody registered is refused too: no
	// sale of it can have been approved.
	refusedExactly(t, ctx, p, r, reversalOf(sale("TUNKNOWN", "000001"), "000002"), wire.RCNotPermittedTerminal, refusedUnknown)
	// A repeat of nothing recorded is a new request.
	rep := sale("TUNKNOWN", "000003")
	rep.MTI = "0201"
	refusedExactly(t, ctx, p, r, rep, wire.RCNotPermittedTerminal, refusedUnknown)
	// Batch totals of an unknown terminal.
	tot := wire.Totals{}
	refusedExactly(t, ctx, p, r, &wire.Message{MTI: "0500", TransmissionTime: "1203101112", STAN: "000004", TerminalID: "TUNKNOWN", Totals: &tot},
		wire.RCNotPermittedTerminal, refusedUnknown)
}

func TestMerchantMustMatch(t *testing.T) {
	r := nodetest.Start(t)
	p := newPipeline(r, r.Views)
	ctx := context.Background()
	bad := sale(nodetest.Terminal, "000001")
	bad.MerchantID = "MERCHANT0000002"
	refusedExactly(t, ctx, p, r, bad, wire.RCInvalidMerchant, refusedMerchant)
	// No DE42: the registered merchant is recorded.
	none := sale(nodetest.Terminal, "000002")
	none.MerchantID = ""
	approved(t, ctx, p, none)
	if tx, _, _ := r.Store.Get(none.Key()); tx == nil || tx.MerchantID != nodetest.Merchant {
		t.Fatalf("recorded %+v, want merchant %s", tx, nodetest.Merchant)
	}
}

// TestBlockedTerminal: a blocked terminal's new sales are refused; the
// reversal of a sale approved before the block is taken (or the
// cardholder pays for a sale that never happened), and a repeat of that
// sale still hears its recorded approval.
func TestBlockedTerminal(t *testing.T) {
	r := nodetest.Start(t)
	p := newPipeline(r, r.Views)
	ctx := context.Background()
	first := sale(nodetest.Terminal, "000001")
	approved(t, ctx, p, first)
	r.Block(t, nodetest.Terminal, true)

	refusedExactly(t, ctx, p, r, sale(nodetest.Terminal, "000002"), wire.RCNotPermittedTerminal, refusedBlocked)
	refund := sale(nodetest.Terminal, "000003")
	refund.ProcCode = "200000"
	refusedExactly(t, ctx, p, r, refund, wire.RCNotPermittedTerminal, refusedBlocked)
	advice := sale(nodetest.Terminal, "000004")
	advice.MTI, advice.AuthCode = "0120", "R00001"
	refusedExactly(t, ctx, p, r, advice, wire.RCNotPermittedTerminal, refusedBlocked)

	rep := *first
	rep.MTI = "0201"
	approved(t, ctx, p, &rep)

	approved(t, ctx, p, reversalOf(first, "000005"))
	if tx, _, _ := r.Store.Get(first.Key()); tx.Status != store.StatusReversed {
		t.Fatalf("original %v after its reversal, want reversed", tx.Status)
	}
	r.Block(t, nodetest.Terminal, false)
	approved(t, ctx, p, sale(nodetest.Terminal, "000006"))
}

// TestCertificateBindsItsStore: a request whose client certificate names
// another store than its terminal's is refused, reversal or not, whatever
// is recorded.
func TestCertificateBindsItsStore(t *testing.T) {
	r := nodetest.Start(t)
	p := newPipeline(r, r.Views)
	own := peer.With(context.Background(), peer.Identity{Addr: "10.0.0.1:5000", TLS: true, Store: nodetest.Store})
	other := peer.With(context.Background(), peer.Identity{Addr: "10.0.0.2:5000", TLS: true, Store: "store-2"})
	first := sale(nodetest.Terminal, "000001")
	approved(t, own, p, first)
	refusedExactly(t, other, p, r, sale(nodetest.Terminal, "000002"), wire.RCNotPermittedTerminal, refusedStore)
	refusedExactly(t, other, p, r, reversalOf(first, "000003"), wire.RCNotPermittedTerminal, refusedStore)
	// Its repeat from the wrong store: refused, though recorded.
	rep := *first
	rep.MTI = "0201"
	if resp := p.Handle(other, &rep); resp == nil || resp.ResponseCode != wire.RCNotPermittedTerminal {
		t.Fatalf("repeat from another store answered %+v", resp)
	}
	// TLS without a client certificate: no store to bind.
	approved(t, peer.With(context.Background(), peer.Identity{Addr: "10.0.0.3:5000", TLS: true}), p, sale(nodetest.Terminal, "000004"))
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestStandbyNeverRefusesFromItsReplica: a standby's replica may lag (a
// node restarted a moment ago knows no terminal yet), so a standby relays
// what the active can judge, and answers "not processed" to a client
// certificate it cannot vouch for, which the active would never see.
// Found by TestProcessDayCloseSurvivesKills: a node restarted after a kill
// answered 58 to a sale its predecessor had proposed, which was approved.
func TestStandbyNeverRefusesFromItsReplica(t *testing.T) {
	r := nodetest.Start(t)
	p := newPipeline(r, leadership.NewTracker()) // a standby that knows no active
	relayed := func() float64 { return counterValue(p.metrics.relayed.WithLabelValues(relayNoActive)) }
	check := func(ctx context.Context, req *wire.Message, wantRelayed, wantStore float64) {
		t.Helper()
		r0, s0 := relayed(), counterValue(p.metrics.terminalRefusals.WithLabelValues(refusedStore))
		resp := p.Handle(ctx, req)
		if resp == nil || resp.ResponseCode != wire.RCIssuerInoperative {
			t.Fatalf("%s answered %+v, want NP", req.TerminalID, resp)
		}
		if np, _ := resp.Private.Get(TagNotProcessed); np != "1" {
			t.Fatalf("answered 91 without NP")
		}
		if got := relayed() - r0; got != wantRelayed {
			t.Fatalf("relayed %v, want %v", got, wantRelayed)
		}
		if got := counterValue(p.metrics.terminalRefusals.WithLabelValues(refusedStore)) - s0; got != wantStore {
			t.Fatalf("store refusals %v, want %v", got, wantStore)
		}
	}
	ctx := context.Background()
	check(ctx, sale("TUNKNOWN", "000001"), 1, 0)
	r.Block(t, nodetest.Terminal, true)
	check(ctx, sale(nodetest.Terminal, "000002"), 1, 0)
	other := peer.With(ctx, peer.Identity{Addr: "10.0.0.2:5000", TLS: true, Store: "store-2"})
	check(other, sale(nodetest.Terminal, "000003"), 0, 1)
	check(other, sale("TUNKNOWN", "000004"), 0, 1)
	if counterValue(p.metrics.terminalRefusals.WithLabelValues(refusedBlocked))+counterValue(p.metrics.terminalRefusals.WithLabelValues(refusedUnknown)) != 0 {
		t.Fatal("a standby refused from its own replica")
	}
}
