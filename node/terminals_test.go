package node_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// TestTerminalsAdminAPI: a range added in one command, read back from a
// standby, blocked and unblocked at the active; a write on a standby is
// 421 naming the leader; malformed and unknown terminals are 400 and 404.
func TestTerminalsAdminAPI(t *testing.T) {
	cl := adminCluster(t, 3, nil)
	ctx := context.Background()
	l := cl.Leader()
	active, standby := adminClient(cl.Configs[l]), adminClient(cl.Configs[(l+1)%3])
	ch, err := active.AddTerminals(ctx,
		adminapi.TerminalRange{From: "API00001", To: "API02500", Merchant: testMerchant, Store: "store-a"},
		adminapi.TerminalRange{From: "APIX0001", Merchant: "MERCHANT0000002", Store: "store-b"})
	if err != nil || ch != (adminapi.TerminalChange{Added: 2501}) {
		t.Fatalf("add: %+v %v", ch, err)
	}
	poll(t, "the standby applies the add", func() error {
		_, err := standby.Terminal(ctx, "APIX0001")
		return err
	})
	x, err := standby.Terminal(ctx, "API00042")
	if err != nil || x.Merchant != testMerchant || x.Store != "store-a" || x.Blocked || x.Added.IsZero() || !x.Added.Equal(x.Changed) {
		t.Fatalf("API00042 on the standby: %+v %v", x, err)
	}
	page, err := standby.Terminals(ctx, adminapi.TerminalQuery{Store: "store-a", Limit: 1000})
	if err != nil || len(page.Terminals) != 1000 || page.Next != "API01000" {
		t.Fatalf("first page: %d terminals next %q %v", len(page.Terminals), page.Next, err)
	}
	page, err = standby.Terminals(ctx, adminapi.TerminalQuery{Store: "store-a", After: "API02000"})
	if err != nil || len(page.Terminals) != 500 || page.Next != "" || page.Terminals[0].ID != "API02001" {
		t.Fatalf("last page: %d terminals next %q %v", len(page.Terminals), page.Next, err)
	}

	var ae *adminapi.APIError
	if _, err := standby.BlockTerminals(ctx, "API00042", "", true); !errors.As(err, &ae) || !ae.NotLeader() || ae.Body.LeaderID != cl.Configs[l].ID {
		t.Fatalf("block on a standby: %v, want 421 naming %s", err, cl.Configs[l].ID)
	}
	if ch, err := active.BlockTerminals(ctx, "API00040", "API00044", true); err != nil || ch != (adminapi.TerminalChange{Changed: 5}) {
		t.Fatalf("block: %+v %v", ch, err)
	}
	if x, err := active.Terminal(ctx, "API00042"); err != nil || !x.Blocked || !x.Changed.After(x.Added) {
		t.Fatalf("blocked: %+v %v", x, err)
	}
	if ch, err := active.BlockTerminals(ctx, "API00042", "", false); err != nil || ch != (adminapi.TerminalChange{Changed: 1}) {
		t.Fatalf("unblock: %+v %v", ch, err)
	}
	for name, c := range map[string]struct {
		err  error
		code int
	}{
		"short id": {func() error {
			_, err := active.AddTerminals(ctx, adminapi.TerminalRange{From: "API1", Merchant: testMerchant, Store: "s"})
			return err
		}(), http.StatusBadRequest},
		"no merchant": {func() error {
			_, err := active.AddTerminals(ctx, adminapi.TerminalRange{From: "API00001", Store: "s"})
			return err
		}(), http.StatusBadRequest},
		"no ranges": {func() error { _, err := active.AddTerminals(ctx); return err }(), http.StatusBadRequest},
		"too many": {func() error {
			_, err := active.AddTerminals(ctx, adminapi.TerminalRange{From: "B0000000", To: "B0099999", Merchant: testMerchant, Store: "s"})
			return err
		}(), http.StatusBadRequest},
		"block unknown": {func() error { _, err := active.BlockTerminals(ctx, "NOPE0001", "", true); return err }(), http.StatusNotFound},
		"get unknown":   {func() error { _, err := standby.Terminal(ctx, "NOPE0001"); return err }(), http.StatusNotFound},
	} {
		if !errors.As(c.err, &ae) || ae.StatusCode != c.code {
			t.Errorf("%s: %v, want %d", name, c.err, c.code)
		}
	}
}

// TestBlockSurvivesFailover: a terminal blocked on the active is refused
// (58) by the new active after the active is lost, also when sent to the
// standby (which relays it: the new active refuses it); the reversal of its sale approved before the block is still
// taken there.
func TestBlockSurvivesFailover(t *testing.T) {
	tr := startTrio(t)
	ctx := context.Background()
	l := tr.leader()
	if _, err := adminClient(tr.cl.Configs[l]).AddTerminals(ctx, adminapi.TerminalRange{From: "TBLK0001", Merchant: testMerchant, Store: "store-1"}); err != nil {
		t.Fatal(err)
	}
	r := newRegister(t, tr.addr(l), "TBLK0001")
	sale := r.purchase(1500)
	tr.mustAnswer(r, sale, wire.RCApproved)
	if _, err := adminClient(tr.cl.Configs[l]).BlockTerminals(ctx, "TBLK0001", "", true); err != nil {
		t.Fatal(err)
	}
	tr.mustAnswer(r, r.purchase(1600), wire.RCNotPermittedTerminal)

	if err := tr.cl.StopNode(l); err != nil {
		t.Fatal(err)
	}
	nl := tr.leader()
	standby := 3 - l - nl
	r.drop()
	r.addr = tr.addr(nl)
	tr.mustAnswer(r, r.purchase(1700), wire.RCNotPermittedTerminal)
	viaStandby := newRegister(t, tr.addr(standby), "TBLK0001")
	viaStandby.stan = 100
	tr.mustAnswer(viaStandby, viaStandby.purchase(1800), wire.RCNotPermittedTerminal)
	if got := tr.metric(tr.id(nl), "tillgate_terminal_refusals_total", map[string]string{"reason": "blocked"}) +
		tr.metric(tr.id(standby), "tillgate_terminal_refusals_total", map[string]string{"reason": "blocked"}); got != 2 {
		t.Fatalf("blocked refusals on the survivors: %v, want 2 (both on the new active)", got)
	}
	rev := r.next(&wire.Message{MTI: "0400", ProcCode: "000000", Amount: sale.Amount, HasAmount: true,
		MerchantID: sale.MerchantID, Currency: "978", OriginalData: de90(sale)})
	tr.mustAnswer(r, rev, wire.RCApproved)
	poll(t, "the sale reversed on the new active", func() error {
		tx, ok, err := tr.cl.Nodes[nl].Store().Get(sale.Key())
		if err != nil || !ok || tx.Status != store.StatusReversed {
			return errors.New("not reversed yet")
		}
		return nil
	})
}
