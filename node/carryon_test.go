package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// TestLeadershipLostMidRequest: the active loses its leadership while a
// purchase waits for the acquirer, so it cannot commit the OUTCOME. The
// register, which sent the purchase once and keeps waiting on that same
// connection, still gets the approval: the old active hands the request to
// the new one as a repeat instead of leaving the register to time out and
// repeat. The card is charged once.
func TestLeadershipLostMidRequest(t *testing.T) {
	tr := startTrio(t)
	l := tr.leader()
	if err := tr.sim.SetFault(sim.Fault{ExtraLatency: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r := newRegister(t, tr.addr(l), "CARRY001")
	r.wait = 2 * time.Minute // one attempt: the answer must come without a repeat
	req := r.purchase(4321)
	type answer struct {
		resp *wire.Message
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := r.attempt(req)
		done <- answer{resp, err}
	}()
	poll(t, "the INTENT committed on the active", func() error {
		if tx, ok, err := tr.cl.Nodes[l].Store().Get(req.Key()); err != nil || !ok || tx.Status != store.StatusPending {
			return fmt.Errorf("intent: ok %v txn %+v err %v", ok, tx, err)
		}
		return nil
	})
	if _, err := adminClient(tr.cl.Configs[l]).TransferLeader(context.Background()); err != nil {
		t.Fatalf("leader transfer: %v", err)
	}
	a := <-done
	if a.err != nil {
		t.Fatalf("the register got no answer on its one attempt: %v", a.err)
	}
	if a.resp.ResponseCode != wire.RCApproved || len(a.resp.AuthCode) != 6 {
		recs, _ := tr.sim.Ledger()
		var mine []sim.LedgerRecord
		for _, r := range recs {
			if strings.Contains(r.Key, req.STAN) {
				mine = append(mine, r)
			}
		}
		t.Fatalf("answer RC %s auth %q from %s, want an approval; acqsim: %+v", a.resp.ResponseCode, a.resp.AuthCode, hint(a.resp, wire.TagNodeID), mine)
	}
	if nd := hint(a.resp, wire.TagNodeID); nd == tr.id(l) {
		t.Errorf("answered by %s, the old active: want the new active's answer relayed", nd)
	}
	if got := tr.metric(tr.id(l), "tillgate_carried_on_total", nil); got != 1 {
		t.Errorf("old active carried on %v requests, want 1", got)
	}
	if err := tr.sim.SetFault(sim.Fault{}); err != nil {
		t.Fatal(err)
	}
	a.resp.Amount = req.Amount
	tr.checkStored([]int{0, 1, 2}, map[string]*wire.Message{req.Key(): a.resp})
}
