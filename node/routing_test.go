package node_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/wire"
)

func mustSim(t *testing.T, dir string) *sim.Sim {
	t.Helper()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: dir, Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRoutingByBIN: cards go to the acquirer of their range, others to the
// default; each transaction records its acquirer, and an outage of one
// acquirer (its reversal queued there) leaves the other untouched.
func TestRoutingByBIN(t *testing.T) {
	dir := t.TempDir()
	visa, mc := mustSim(t, filepath.Join(dir, "visa")), mustSim(t, filepath.Join(dir, "mc"))
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, Nodes: 1, AcquirerAddr: visa.Addr(), Tune: func(c *node.Config) {
		c.Acquirers = []node.AcquirerConfig{
			{Config: acquirer.Config{Name: "visa", Addr: visa.Addr(), Timeout: 300 * time.Millisecond}},
			{Config: acquirer.Config{Name: "mc", Addr: mc.Addr(), Timeout: 300 * time.Millisecond}, BINs: []node.BINRange{{Low: "51", High: "55"}}},
		}
		c.DefaultAcquirer = "visa"
		c.SAF = node.SAFConfig{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, SkipAfter: 3, Poll: 50 * time.Millisecond}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	registerTestTerminals(t, cl)
	c := dial(t, cl.Configs[0].RegisterAddr)
	st := cl.Nodes[0].Store()
	send := func(pan string, amount int64, wantRC, wantAcq string) {
		t.Helper()
		m := purchaseOf(pan, amount)
		if got := c.roundTrip(m); got.ResponseCode != wantRC {
			t.Fatalf("%s: RC %s, want %s", wire.MaskPAN(pan), got.ResponseCode, wantRC)
		}
		if tx, _, _ := st.Get(m.Key()); tx == nil || tx.Acquirer != wantAcq {
			t.Fatalf("%s: recorded for acquirer %+v, want %s", wire.MaskPAN(pan), tx, wantAcq)
		}
	}
	send("4111111111111111", 100, "00", "visa")
	send("5500000000000004", 200, "00", "mc")
	send("6011000000000004", 300, "00", "visa")
	// mc answers late: its transaction is declined and reversed there;
	// visa goes on answering.
	mc.SetFault(sim.Fault{Late: time.Second})
	send("5500000000000004", 400, wire.RCIssuerInoperative, "mc")
	send("4111111111111111", 500, "00", "visa")
	mc.SetFault(sim.Fault{})
	poll(t, "the mc reversal to be acknowledged", func() error {
		if q, _ := st.SAFQueue("mc", 0, 0); len(q) != 0 {
			return fmt.Errorf("%d queued for mc", len(q))
		}
		return nil
	})
	vt, _ := visa.Totals()
	mt, _ := mc.Totals()
	if vt.Net["purchase"] != (sim.Sum{Count: 3, Amount: 900}) || mt.Net["purchase"] != (sim.Sum{Count: 1, Amount: 200}) {
		t.Fatalf("visa %v, mc %v", vt.Net, mt.Net)
	}
	tot, _ := st.Totals()
	if tot.Net["purchase"].Amount != 1100 {
		t.Fatalf("cluster totals %v, want 1100 = 900 (visa) + 200 (mc)", tot.Net)
	}
}
