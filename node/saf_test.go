package node_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// safTrio is startTrio with a short acquirer timeout, a quick SAF sender
// and the stand-in policy given.
func safTrio(t *testing.T, policy node.StandInPolicy, tune ...func(*node.Config)) *trio {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tr := &trio{t: t, sim: s, regs: map[string]*prometheus.Registry{}}
	tr.cl, err = localcluster.Start(localcluster.Options{
		Dir: dir, Nodes: 3, AcquirerAddr: s.Addr(),
		Tune: func(c *node.Config) {
			c.Raft.HeartbeatTimeout = time.Second
			c.Raft.ElectionTimeout = time.Second
			c.Raft.LeaderLeaseTimeout = 500 * time.Millisecond
			c.Acquirer.Timeout = 300 * time.Millisecond
			c.SAF = node.SAFConfig{MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, SkipAfter: 3, Poll: 100 * time.Millisecond}
			c.StandIn = policy
			c.Registry = prometheus.NewRegistry()
			tr.regs[c.ID] = c.Registry
			for _, f := range tune {
				f(c)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.cl.Close() })
	if _, err := tr.cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	registerTestTerminals(t, tr.cl)
	return tr
}

// luhnPAN completes a 15-digit prefix with its check digit.
func luhnPAN(prefix string) string {
	sum := 0
	for i := len(prefix) - 1; i >= 0; i-- {
		d := int(prefix[i] - '0')
		if (len(prefix)-1-i)%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return prefix + string(rune('0'+(10-sum%10)%10))
}

// answer is what one register got for one request.
type answer struct {
	req  *wire.Message
	resp *wire.Message
}

// sell runs registers concurrently; each sells its cards' purchases in
// order, on its own terminal, at the active's address.
func (tr *trio) sell(perRegister [][]*wire.Message) []answer {
	tr.t.Helper()
	addr := tr.addr(tr.leader())
	var mu sync.Mutex
	var out []answer
	var wg sync.WaitGroup
	errs := make(chan error, len(perRegister))
	for i, reqs := range perRegister {
		r := newRegister(tr.t, addr, fmt.Sprintf("TSAF%04d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range reqs {
				r.stan++
				m.TerminalID, m.STAN = r.tid, pad6(r.stan)
				resp, err := r.transact(m)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				out = append(out, answer{m, resp})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tr.t.Fatal(err)
	}
	return out
}

func purchaseOf(pan string, amount int64) *wire.Message {
	m := purchase(amount)
	m.PAN = pan
	return m
}

// safDepth is the queue depth on node i.
func (tr *trio) safDepth(i int) int {
	st, err := tr.cl.Nodes[i].Store().SAFStats()
	if err != nil {
		tr.t.Fatal(err)
	}
	d := 0
	for _, s := range st {
		d += s.Depth
	}
	return d
}

// waitDrained waits for an empty queue on every running node, then for
// every running node to hold the same state.
func (tr *trio) waitDrained() {
	tr.t.Helper()
	poll(tr.t, "the SAF queue to drain everywhere", func() error {
		for i, n := range tr.cl.Nodes {
			if n != nil && tr.safDepth(i) != 0 {
				return fmt.Errorf("%s: %d entries queued", tr.id(i), tr.safDepth(i))
			}
		}
		return nil
	})
	tr.waitConverged()
}

// waitConverged is I5 and, through it, I1's "on every surviving node".
func (tr *trio) waitConverged() {
	tr.t.Helper()
	poll(tr.t, "equal state hashes", func() error {
		var first []byte
		var idx uint64
		for _, n := range tr.cl.Nodes {
			if n == nil {
				continue
			}
			h, err := n.Store().Hash()
			if err != nil {
				return err
			}
			if first == nil {
				first, idx = h, n.Store().AppliedIndex()
			} else if !bytes.Equal(first, h) {
				return fmt.Errorf("hashes differ (applied %d vs %d)", idx, n.Store().AppliedIndex())
			}
		}
		return nil
	})
}

// approvals collects the 00 answers (key -> answer), failing on a second
// approval of one identity (I2).
func approvals(t *testing.T, as []answer) map[string]*wire.Message {
	t.Helper()
	out := map[string]*wire.Message{}
	for _, a := range as {
		if a.resp.ResponseCode != wire.RCApproved {
			continue
		}
		if out[a.req.Key()] != nil {
			t.Fatalf("%s approved twice", a.req.Key())
		}
		out[a.req.Key()] = a.resp
	}
	return out
}

func standIn(m *wire.Message) bool {
	si, _ := m.Private.Get(wire.TagStandIn)
	return si == "1" && strings.HasPrefix(m.AuthCode, "S")
}

// TestAcquirerDownStandInThenSAF: with the acquirer down, 12 registers each
// sell 4 purchases of one card. The policy stands in at most 3 per card and
// day, at most 10,000 per acquirer unacknowledged, nothing over the floor,
// nothing on the negative list; everything else is 91. Once the acquirer is
// back the advices drain, and the acquirer's ledger equals the cluster's.
func TestAcquirerDownStandInThenSAF(t *testing.T) {
	negative := luhnPAN("555555555555444")
	tr := safTrio(t, node.StandInPolicy{
		Enabled: true, FloorLimit: 1000, CardCount: 3, OfflineCap: 10000,
		NegativeBINs: []node.BINRange{{Low: "555555", High: "555555"}},
	})
	tr.sim.SetFault(sim.Fault{Down: true})
	var regs [][]*wire.Message
	for i := range 10 {
		pan := luhnPAN(fmt.Sprintf("4%014d", 1000+i))
		regs = append(regs, []*wire.Message{purchaseOf(pan, 500), purchaseOf(pan, 500), purchaseOf(pan, 500), purchaseOf(pan, 500)})
	}
	regs = append(regs, []*wire.Message{purchaseOf(luhnPAN("400000000009999"), 1001)}) // over the floor
	regs = append(regs, []*wire.Message{purchaseOf(negative, 100)})                    // negative list
	answers := tr.sell(regs)

	approved := approvals(t, answers)
	// 10 cards x 3 = 30 under velocity, but the cap of 10,000 allows 20.
	if len(approved) != 20 {
		t.Fatalf("%d stand-ins, want 20 (the offline cap)", len(approved))
	}
	perCard := map[string]int{}
	for _, a := range answers {
		switch {
		case a.resp.ResponseCode == wire.RCApproved:
			if !standIn(a.resp) || a.req.Amount > 1000 {
				t.Fatalf("%s (%d) approved: auth %q; want only stand-ins within the floor", a.req.Key(), a.req.Amount, a.resp.AuthCode)
			}
			perCard[a.req.PAN]++
		case a.resp.ResponseCode != wire.RCIssuerInoperative:
			t.Fatalf("%s answered %s, want 00 or 91", a.req.Key(), a.resp.ResponseCode)
		}
	}
	for pan, n := range perCard {
		if n > 3 || pan == negative {
			t.Fatalf("card %s stood in %d times", wire.MaskPAN(pan), n)
		}
	}
	if n := tr.metric(tr.id(tr.leader()), "tillgate_transactions_total", map[string]string{"source": "stand-in"}); n != 20 {
		t.Fatalf("%v answers counted as stand-in, want 20", n)
	}
	if open, _ := tr.cl.Nodes[tr.leader()].Store().StandInOpen("acquirer"); open != (store.Sum{Count: 20, Amount: 10000}) {
		t.Fatalf("open stand-ins %+v, want 20 for 10000", open)
	}
	if d := tr.safDepth(tr.leader()); d < 20 {
		t.Fatalf("queue holds %d entries, want at least the 20 advices", d)
	}

	tr.sim.SetFault(sim.Fault{})
	tr.waitDrained()
	tr.checkStored(tr.running(), approved)
	if st := tr.sim.Stats(); st.Duplicates != 0 {
		t.Errorf("the acquirer saw %d duplicates: something acknowledged was sent again", st.Duplicates)
	}
}

// running lists the indexes of the running nodes.
func (tr *trio) running() []int {
	var out []int
	for i, n := range tr.cl.Nodes {
		if n != nil {
			out = append(out, i)
		}
	}
	return out
}

// TestLateAnswersReversed: the acquirer records every request but answers
// after the cluster's timeout. Purchases under the floor limit are stood in
// (their advices confirm them); the others are declined 91 and reversed
// from the SAF queue. Both ledgers agree at the end.
func TestLateAnswersReversed(t *testing.T) {
	tr := safTrio(t, node.StandInPolicy{Enabled: true, FloorLimit: 1000})
	tr.sim.SetFault(sim.Fault{Late: time.Second})
	var regs [][]*wire.Message
	for i := range 4 {
		pan := luhnPAN(fmt.Sprintf("4%014d", 2000+i))
		regs = append(regs, []*wire.Message{purchaseOf(pan, 700), purchaseOf(pan, 5000)})
	}
	answers := tr.sell(regs)
	approved := approvals(t, answers)
	for _, a := range answers {
		want := wire.RCApproved
		if a.req.Amount > 1000 {
			want = wire.RCIssuerInoperative
		}
		if a.resp.ResponseCode != want {
			t.Fatalf("%s (%d) answered %s, want %s", a.req.Key(), a.req.Amount, a.resp.ResponseCode, want)
		}
	}
	tr.sim.SetFault(sim.Fault{})
	tr.waitDrained()
	tr.checkStored(tr.running(), approved)
	st := tr.cl.Nodes[tr.leader()].Store()
	for _, a := range answers {
		tx, _, _ := st.Get(a.req.Key())
		if a.req.Amount > 1000 && tx.Status != store.StatusReversed {
			t.Errorf("%s: %v after its reversal was acknowledged", a.req.Key(), tx.Status)
		}
	}
}

// TestDuplicateAcquirerAnswers: every answer arrives twice; the second
// copies are dropped and change nothing.
func TestDuplicateAcquirerAnswers(t *testing.T) {
	tr := safTrio(t, node.StandInPolicy{})
	tr.sim.SetFault(sim.Fault{Duplicate: true})
	var regs [][]*wire.Message
	for i := range 4 {
		pan := luhnPAN(fmt.Sprintf("4%014d", 3000+i))
		regs = append(regs, []*wire.Message{purchaseOf(pan, 100), purchaseOf(pan, 251), purchaseOf(pan, 300)})
	}
	answers := tr.sell(regs)
	approved := approvals(t, answers)
	if len(approved) != 8 {
		t.Fatalf("%d approvals, want 8 (the 251s are declined 51)", len(approved))
	}
	tr.waitDrained()
	tr.checkStored(tr.running(), approved)
}

// TestSAFSurvivesLeaderStop: advices queued while the acquirer is down
// are delivered by the next active after the one that queued them stops.
func TestSAFSurvivesLeaderStop(t *testing.T) {
	tr := safTrio(t, node.StandInPolicy{Enabled: true, FloorLimit: 1000})
	tr.sim.SetFault(sim.Fault{Down: true})
	var regs [][]*wire.Message
	for i := range 3 {
		pan := luhnPAN(fmt.Sprintf("4%014d", 4000+i))
		regs = append(regs, []*wire.Message{purchaseOf(pan, 100), purchaseOf(pan, 200)})
	}
	approved := approvals(t, tr.sell(regs))
	if len(approved) != 6 {
		t.Fatalf("%d stand-ins, want 6", len(approved))
	}
	old := tr.leader()
	st, err := adminClient(tr.cl.Configs[old]).Status(context.Background())
	if err != nil || len(st.SAF) != 1 || st.SAF[0].Acquirer != "acquirer" || st.SAF[0].Depth != 6 {
		t.Fatalf("admin status saf %+v, %v; want 6 for acquirer", st.SAF, err)
	}
	if err := tr.cl.StopNode(old); err != nil {
		t.Fatal(err)
	}
	for i := range tr.cl.Nodes {
		if tr.cl.Nodes[i] != nil && tr.safDepth(i) != 6 {
			t.Fatalf("%s holds %d entries, want the 6 advices", tr.id(i), tr.safDepth(i))
		}
	}
	if _, err := tr.cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	tr.sim.SetFault(sim.Fault{})
	tr.waitDrained()
	tr.checkStored(tr.running(), approved)
	// The stopped node catches up with the acknowledgements.
	tr.cl.Configs[old].Registry = prometheus.NewRegistry()
	if err := tr.cl.StartNode(old); err != nil {
		t.Fatal(err)
	}
	tr.waitDrained()
	tr.checkStored([]int{0, 1, 2}, approved)
}

// TestTakeoverGivesUpReversal: the active stops while a purchase waits on
// the acquirer (its INTENT committed, no OUTCOME). The next active's
// takeover asks again as a repeat, gets no answer in time, records the
// outcome unknown and queues the reversal, which the acquirer gets once it
// answers again: the purchase nets to zero on both sides.
func TestTakeoverGivesUpReversal(t *testing.T) {
	tr := safTrio(t, node.StandInPolicy{}, func(c *node.Config) { c.Acquirer.Timeout = 2 * time.Second })
	tr.sim.SetFault(sim.Fault{Late: time.Minute})
	old := tr.leader()
	c := dial(t, tr.addr(old))
	m := purchaseOf(luhnPAN("411111111111000"), 4200)
	c.send(m) // no answer is awaited: the node stops under it
	poll(t, "the INTENT to commit", func() error {
		if p, _ := tr.cl.Nodes[old].Store().Pending(); len(p) != 1 {
			return fmt.Errorf("%d pending", len(p))
		}
		return nil
	})
	if err := tr.cl.StopNode(old); err != nil {
		t.Fatal(err)
	}
	next, err := tr.cl.WaitLeader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "the takeover to give up on the INTENT", func() error {
		tx, ok, _ := tr.cl.Nodes[next].Store().Get(m.Key())
		if !ok || tx.Status != store.StatusUnknown || tr.safDepth(next) != 1 {
			return fmt.Errorf("txn %+v, %d queued", tx, tr.safDepth(next))
		}
		return nil
	})
	// Whether the acquirer has the original depends on how far the old
	// active and the repeat got (a link not yet up sends nothing): either
	// way the reversal nets it to zero, or leaves a tombstone for it.
	tr.sim.SetFault(sim.Fault{})
	tr.waitDrained()
	if tx, _, _ := tr.cl.Nodes[next].Store().Get(m.Key()); tx.Status != store.StatusReversed {
		t.Fatalf("after the reversal: %v", tx.Status)
	}
	tr.checkStored(tr.running(), nil)
}

// TestInFlightCapStandsIn: with one request allowed in flight, a second
// one is not sent while the first waits; it is stood in, and so is the
// first once it times out. The acquirer is told of both by advice.
func TestInFlightCapStandsIn(t *testing.T) {
	tr := safTrio(t, node.StandInPolicy{Enabled: true, FloorLimit: 1000}, func(c *node.Config) {
		c.Acquirer.Timeout = 2 * time.Second
		c.Acquirers = []node.AcquirerConfig{{Config: c.Acquirer, MaxInFlight: 1}}
	})
	tr.sim.SetFault(sim.Fault{Late: time.Minute})
	l := tr.leader()
	first := newRegister(t, tr.addr(l), "TCAP0001")
	m1 := first.purchase(600)
	done := make(chan *wire.Message, 1)
	go func() {
		resp, _ := first.attempt(m1)
		done <- resp
	}()
	// The first holds the only slot from its INTENT's commit until its
	// timeout; the second commits its own INTENT after that.
	poll(t, "the first INTENT", func() error {
		if p, _ := tr.cl.Nodes[l].Store().Pending(); len(p) != 1 {
			return fmt.Errorf("%d pending", len(p))
		}
		return nil
	})
	second := newRegister(t, tr.addr(l), "TCAP0002")
	m2 := second.purchase(700)
	r2, err := second.transact(m2)
	if err != nil || !standIn(r2) {
		t.Fatalf("second: %+v, %v; want a stand-in", r2, err)
	}
	r1 := <-done
	if r1 == nil || !standIn(r1) {
		t.Fatalf("first: %+v; want a stand-in after its timeout", r1)
	}
	if n := tr.metric(tr.id(l), "tillgate_acquirer_errors_total", map[string]string{"kind": "at_limit"}); n != 1 {
		t.Fatalf("%v requests refused at the cap, want 1", n)
	}
	tr.sim.SetFault(sim.Fault{})
	tr.waitDrained()
	tr.checkStored(tr.running(), map[string]*wire.Message{m1.Key(): r1, m2.Key(): r2})
}
