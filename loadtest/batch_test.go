package loadtest

import (
	"fmt"
	"testing"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/wire"
)

// step is one thing a register learns: an answer to its own request, or a
// queued entry its failover client reports acknowledged.
type step struct {
	m     *wire.Message
	rc    string
	acked bool // through failover's EventReversalAcked, not Do
}

func testReq(mti, proc, stan string, amount int64) *wire.Message {
	return &wire.Message{MTI: mti, ProcCode: proc, STAN: stan, TransmissionTime: "1201120000", Amount: amount,
		HasAmount: true, TerminalID: "L0000001", MerchantID: merchantID, Currency: currency}
}

func voidOf(o *wire.Message, stan string) *wire.Message {
	v := failover.Reversal(o, stan, "1201120100")
	return &v
}

func TestBatchTotals(t *testing.T) {
	purchase := testReq("0200", "000000", "000001", 1000)
	refund := testReq("0200", "200000", "000002", 500)
	cashback := testReq("0200", "090000", "000003", 3000)
	preauth := testReq("0100", "000000", "000004", 4500)
	completion := testReq("0220", "000000", "000005", 4200)
	completion.OriginalData = "0100" + "000004" + "1201120000" + "0000000000000000000000"
	timedOut := testReq("0200", "000000", "000006", 700)
	repeat := *purchase
	repeat.MTI = "0201"
	tests := []struct {
		name  string
		steps []step
		want  wire.Totals
	}{
		{"purchase", []step{{m: purchase, rc: "00"}}, wire.Totals{DebitsCount: 1, DebitsAmount: 1000, NetAmount: 1000}},
		{"refund", []step{{m: refund, rc: "00"}}, wire.Totals{CreditsCount: 1, CreditsAmount: 500, NetAmount: -500}},
		{"cashback counts its total", []step{{m: cashback, rc: "00"}}, wire.Totals{DebitsCount: 1, DebitsAmount: 3000, NetAmount: 3000}},
		{"completion", []step{{m: preauth, rc: "00"}, {m: completion, rc: "00"}}, wire.Totals{DebitsCount: 1, DebitsAmount: 4200, NetAmount: 4200}},
		{"pre-auth counts nowhere", []step{{m: preauth, rc: "00"}}, wire.Totals{}},
		{"decline counts nowhere", []step{{m: purchase, rc: "51"}}, wire.Totals{}},
		{"void of an approved purchase", []step{{m: purchase, rc: "00"}, {m: voidOf(purchase, "000007"), rc: "00"}},
			wire.Totals{DebitsReversalCount: 1, DebitsReversalAmount: 1000}},
		{"void of a refund", []step{{m: refund, rc: "00"}, {m: voidOf(refund, "000007"), rc: "00"}},
			wire.Totals{CreditsReversalCount: 1, CreditsReversalAmount: 500}},
		{"void refused", []step{{m: purchase, rc: "00"}, {m: voidOf(purchase, "000007"), rc: "05"}},
			wire.Totals{DebitsCount: 1, DebitsAmount: 1000, NetAmount: 1000}},
		{"auto-reversal of a timed-out request", []step{{m: voidOf(timedOut, "000008"), rc: "00", acked: true}},
			wire.Totals{DebitsReversalCount: 1, DebitsReversalAmount: 700}},
		{"auto-reversal sent as a repeat", []step{{m: func() *wire.Message {
			v := voidOf(timedOut, "000008")
			v.MTI = "0401"
			return v
		}(), rc: "00", acked: true}}, wire.Totals{DebitsReversalCount: 1, DebitsReversalAmount: 700}},
		{"completion delivered from the queue", []step{{m: preauth, rc: "00"}, {m: func() *wire.Message {
			c := *completion
			c.MTI = "0221"
			return &c
		}(), rc: "00", acked: true}}, wire.Totals{DebitsCount: 1, DebitsAmount: 4200, NetAmount: 4200}},
		{"repeat counts once", []step{{m: purchase, rc: "00"}, {m: &repeat, rc: "00"}}, wire.Totals{DebitsCount: 1, DebitsAmount: 1000, NetAmount: 1000}},
		{"a day", []step{
			{m: purchase, rc: "00"}, {m: refund, rc: "00"}, {m: cashback, rc: "00"}, {m: preauth, rc: "00"},
			{m: completion, rc: "00"}, {m: voidOf(cashback, "000009"), rc: "00"}, {m: testReq("0200", "000000", "000010", 151), rc: "51"},
			{m: voidOf(timedOut, "000008"), rc: "00", acked: true},
		}, wire.Totals{DebitsCount: 2, DebitsAmount: 5200, CreditsCount: 1, CreditsAmount: 500,
			DebitsReversalCount: 2, DebitsReversalAmount: 3700, NetAmount: 4700}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBatch()
			for _, s := range tt.steps {
				applyStep(t, b, s)
			}
			if got := b.totals(); got != tt.want {
				t.Fatalf("totals\ngot  %+v\nwant %+v", got, tt.want)
			}
			if !b.settled() {
				t.Fatal("not settled after every entry was acknowledged")
			}
			checkUploads(t, b)
		})
	}
}

func applyStep(t *testing.T, b *batch, s step) {
	t.Helper()
	if !s.acked {
		b.record(s.m, s.rc, "A1B2C3")
		return
	}
	of := "L0000001" + s.m.OriginalData[4:20]
	b.queued(of)
	if b.settled() {
		t.Fatal("settled with an entry queued")
	}
	b.acked(of, s.m, s.rc)
}

// checkUploads: every counted transaction has a valid 0320 naming it.
func checkUploads(t *testing.T, b *batch) {
	t.Helper()
	for i, tx := range b.transactions() {
		m := tx.upload("L0000001", pad6(uint32(900+i)), "1201130000")
		if err := wire.ValidateRequest(m); err != nil {
			t.Fatalf("upload of %s: %v", tx.origKey(), err)
		}
		if m.OriginalData[:20] != tx.origKey() || m.ResponseCode != wire.RCApproved || m.Amount != tx.amount {
			t.Fatalf("upload %+v of %+v", m, tx)
		}
	}
}

func pad6(n uint32) string { return fmt.Sprintf("%06d", n) }

// TestBatchAckBeforeQueued: the client may report an acknowledgement
// before the queued event (another goroutine); an acknowledgement of an
// entry left from an earlier run has no queued event at all. Neither holds
// the batch open.
func TestBatchAckBeforeQueued(t *testing.T) {
	b := newBatch()
	b.acked("k1", nil, "")
	b.queued("k1")
	b.acked("stale", nil, "")
	if !b.settled() {
		t.Fatalf("pending %v", b.pending)
	}
	b.queued("k2")
	if b.settled() {
		t.Fatal("settled with k2 queued")
	}
}
