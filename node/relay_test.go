package node_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// trio is a 3-node in-process cluster with the acquirer simulator, and each
// node's metrics registry so tests can see what a node did.
type trio struct {
	t    *testing.T
	sim  *sim.Sim
	cl   *localcluster.Cluster
	regs map[string]*prometheus.Registry
}

func startTrio(t *testing.T) *trio {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tr := &trio{t: t, sim: s, regs: map[string]*prometheus.Registry{}}
	logs := &syncBuffer{}
	t.Cleanup(func() {
		// A failure under load is rare and hard to replay: its logs are
		// the evidence (the last 256 KiB).
		if t.Failed() {
			b := logs.Bytes()
			t.Logf("the nodes' logs:\n%s", b[max(0, len(b)-256<<10):])
		}
	})
	tr.cl, err = localcluster.Start(localcluster.Options{
		Dir:          dir,
		Nodes:        3,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		AcquirerAddr: s.Addr(),
		Tune: func(c *node.Config) {
			// A loaded 2-core box looks like a paused leader at LAN timings.
			c.Raft.HeartbeatTimeout = time.Second
			c.Raft.ElectionTimeout = time.Second
			c.Raft.LeaderLeaseTimeout = 500 * time.Millisecond
			c.Registry = prometheus.NewRegistry()
			tr.regs[c.ID] = c.Registry
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

func (tr *trio) id(i int) string   { return tr.cl.Configs[i].ID }
func (tr *trio) addr(i int) string { return tr.cl.Configs[i].RegisterAddr }

// leader waits for a leader and returns its index.
func (tr *trio) leader() int {
	tr.t.Helper()
	i, err := tr.cl.WaitLeader(60 * time.Second)
	if err != nil {
		tr.t.Fatal(err)
	}
	return i
}

// metric sums the samples of a counter family whose labels include want.
func (tr *trio) metric(nodeID, name string, want map[string]string) float64 {
	tr.t.Helper()
	fams, err := tr.regs[nodeID].Gather()
	if err != nil {
		tr.t.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	samples:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue samples
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// poll waits for cond with a generous bound: it bounds a hung test, it
// measures nothing.
func poll(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %v", what, err)
}

// register is a test cash register that knows one node's address only. It
// resends unchanged on "not processed" and repeats (xxx1, same identity)
// when no answer came, like the failover client, but it never moves to
// another address: the point is that the one address keeps working.
type register struct {
	addr  string
	tid   string
	codec *wire.Codec
	conn  net.Conn
	stan  int
	wait  time.Duration // how long one attempt waits for its answer
	np    atomic.Int64  // NP answers seen
}

func newRegister(t *testing.T, addr, tid string) *register {
	r := &register{addr: addr, tid: tid, codec: wire.NewCodec(wire.DefaultDialect()), wait: 10 * time.Second}
	t.Cleanup(r.drop)
	return r
}

// purchase is a new purchase of this register. It does not use the
// package's purchase helper: registers run concurrently, and that one
// shares a STAN counter.
func (r *register) purchase(amount int64) *wire.Message {
	r.stan++
	return &wire.Message{
		MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: amount, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: pad6(r.stan),
		LocalTime: "120000", LocalDate: "1122", Expiry: "3012", POSEntryMode: "051", POSCondition: "00",
		TerminalID: r.tid, MerchantID: "MERCHANT0000001", Currency: "978",
	}
}

func (r *register) drop() {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
}

// transact sends req until a final answer (anything but NP) or the
// deadline.
func (r *register) transact(req *wire.Message) (*wire.Message, error) {
	m := *req
	deadline := time.Now().Add(2 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		resp, err := r.attempt(&m)
		switch {
		case err == nil && notProcessed(resp):
			r.np.Add(1)
			time.Sleep(100 * time.Millisecond)
		case err == nil:
			return resp, nil
		default:
			// The request may have arrived: from now on only repeats.
			last = err
			r.drop()
			if !wire.IsRepeat(m.MTI) {
				m.MTI = m.MTI[:3] + "1"
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil, fmt.Errorf("%s: no final answer until the deadline: %w", req.Key(), last)
}

func notProcessed(m *wire.Message) bool {
	np, _ := m.Private.Get("NP")
	return m.ResponseCode == wire.RCIssuerInoperative && np == "1"
}

// attempt writes m once and reads until the answer with its identity; a
// late answer of an earlier transaction is skipped.
func (r *register) attempt(m *wire.Message) (*wire.Message, error) {
	if r.conn == nil {
		c, err := net.DialTimeout("tcp", r.addr, 3*time.Second)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", r.addr, err)
		}
		r.conn = c
	}
	b, err := r.codec.PackFrame(nil, m)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if _, err := r.conn.Write(b); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	_ = r.conn.SetReadDeadline(time.Now().Add(r.wait))
	for {
		resp, err := r.read()
		if err != nil {
			return nil, err
		}
		if resp.Key() == m.Key() {
			return resp, nil
		}
	}
}

func (r *register) read() (*wire.Message, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r.conn, hdr[:]); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	payload := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(r.conn, payload); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return r.codec.Unpack(payload)
}

func hint(m *wire.Message, tag string) string {
	v, _ := m.Private.Get(tag)
	return v
}

// waitHint waits until node i's echo answer names the active at want: its
// view has caught up with the election.
func (tr *trio) waitHint(i int, want string) {
	tr.t.Helper()
	r := newRegister(tr.t, tr.addr(i), "ECHO000"+strconv.Itoa(i))
	poll(tr.t, "the standby to learn the active", func() error {
		r.stan++
		echo := &wire.Message{MTI: "0800", TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: pad6(r.stan), NetworkCode: wire.NetEcho}
		resp, err := r.attempt(echo)
		if err != nil {
			r.drop()
			return err
		}
		if an := hint(resp, wire.TagActiveAddr); an != want {
			return fmt.Errorf("echo hint AN %q, want %q", an, want)
		}
		return nil
	})
}

// checkStored waits until every approval in approved (key -> auth code) is
// approved with that auth code on every node in nodes, and the purchase
// totals of each node and of the acquirer count each exactly once.
func (tr *trio) checkStored(nodes []int, approved map[string]*wire.Message) {
	tr.t.Helper()
	var want store.Sum
	for _, m := range approved {
		want.Count++
		want.Amount += m.Amount
	}
	poll(tr.t, "every approval on every node, once", func() error {
		for _, i := range nodes {
			st := tr.cl.Nodes[i].Store()
			for key, m := range approved {
				tx, ok, err := st.Get(key)
				if err != nil || !ok {
					return fmt.Errorf("%s: %s missing (%v)", tr.id(i), key, err)
				}
				if tx.Status != store.StatusApproved || tx.AuthCode != m.AuthCode {
					return fmt.Errorf("%s: %s status %v auth %q, register saw 00 %q", tr.id(i), key, tx.Status, tx.AuthCode, m.AuthCode)
				}
			}
			tot, err := st.Totals()
			if err != nil {
				return err
			}
			if got := tot.Net["purchase"]; got != want {
				return fmt.Errorf("%s: purchase totals %+v, want %+v", tr.id(i), got, want)
			}
		}
		acq, err := tr.sim.Totals()
		if err != nil {
			return err
		}
		if got := acq.Net["purchase"]; got.Count != want.Count || got.Amount != want.Amount {
			return fmt.Errorf("acquirer purchase totals %+v, want %+v", got, want)
		}
		return nil
	})
}

// TestStandbyRelays: a register that knows only a standby's address gets
// the active's answers through it, hints included; its repeats get the
// original answer; every transaction is stored once on every node and
// the standby authorized nothing itself.
func TestStandbyRelays(t *testing.T) {
	tr := startTrio(t)
	l := tr.leader()
	f := (l + 1) % 3
	tr.waitHint(f, tr.addr(l))

	r := newRegister(t, tr.addr(f), "RELAY001")
	echo := &wire.Message{MTI: "0800", TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: "900001", NetworkCode: wire.NetEcho}
	e, err := r.transact(echo)
	if err != nil {
		t.Fatal(err)
	}
	if e.MTI != "0810" || e.ResponseCode != "00" || hint(e, wire.TagNodeID) != tr.id(f) {
		t.Errorf("echo on the standby: %s RC %s ND %q, want 0810 00 answered by %s itself", e.MTI, e.ResponseCode, hint(e, wire.TagNodeID), tr.id(f))
	}

	const count = 20
	approved := map[string]*wire.Message{}
	var reqs []*wire.Message
	for i := range count {
		req := r.purchase(int64(100 + i))
		resp, err := r.transact(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.MTI != "0210" || resp.ResponseCode != "00" || len(resp.AuthCode) != 6 || resp.STAN != req.STAN {
			t.Fatalf("purchase %d via standby: %s RC %s auth %q STAN %s", i, resp.MTI, resp.ResponseCode, resp.AuthCode, resp.STAN)
		}
		if an, nd := hint(resp, wire.TagActiveAddr), hint(resp, wire.TagNodeID); an != tr.addr(l) || nd != tr.id(l) {
			t.Errorf("purchase %d: hints AN %q ND %q, want the active's %q %q", i, an, nd, tr.addr(l), tr.id(l))
		}
		resp.Amount = req.Amount
		approved[req.Key()] = resp
		reqs = append(reqs, req)
	}
	for _, req := range reqs {
		rep := *req
		rep.MTI = "0201"
		resp, err := r.transact(&rep)
		if err != nil {
			t.Fatal(err)
		}
		orig := approved[req.Key()]
		if resp.ResponseCode != "00" || resp.AuthCode != orig.AuthCode || resp.RRN != orig.RRN {
			t.Errorf("repeat %s via standby: RC %s auth %q RRN %q, want the original 00 %q %q", req.STAN, resp.ResponseCode, resp.AuthCode, resp.RRN, orig.AuthCode, orig.RRN)
		}
	}

	tr.checkStored([]int{0, 1, 2}, approved)
	if d := tr.sim.Stats().Duplicates; d != 0 {
		t.Errorf("the acquirer was asked %d times again: repeats must be answered from the state", d)
	}
	if got := tr.metric(tr.id(f), "tillgate_relayed_requests_total", map[string]string{"result": "answered"}); got < 2*count {
		t.Errorf("the standby counted %v answered relays, want at least %d", got, 2*count)
	}
	if got := tr.metric(tr.id(f), "tillgate_transactions_total", nil); got != 0 {
		t.Errorf("the standby answered %v transactions from its own pipeline, want none (I6)", got)
	}
	if got := tr.metric(tr.id(l), "tillgate_relayed_requests_total", nil); got != 0 {
		t.Errorf("the active relayed %v requests, want none", got)
	}
}

// result is one transaction a looping register finished.
type result struct {
	req, resp *wire.Message
	after     bool // sent after the old active was stopped
}

// TestStandbyRelayAcrossFailover: registers that know only a standby's
// address keep getting answers while the active is stopped mid-way and a
// new one is elected; nothing is lost or doubled. With quorum gone, the
// last node answers "not processed" and stores nothing.
func TestStandbyRelayAcrossFailover(t *testing.T) {
	tr := startTrio(t)
	l := tr.leader()
	var survivors []int
	for i := range 3 {
		if i != l {
			survivors = append(survivors, i)
			tr.waitHint(i, tr.addr(l))
		}
	}

	var stopped, quit atomic.Bool
	var mu sync.Mutex
	var results []result
	var after [3]atomic.Int64
	errc := make(chan error, len(survivors))
	var wg sync.WaitGroup
	for _, i := range survivors {
		r := newRegister(t, tr.addr(i), "FAIL000"+strconv.Itoa(i))
		r.wait = 5 * time.Second
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; !quit.Load(); k++ {
				req := r.purchase(int64(200 + k%50))
				late := stopped.Load()
				resp, err := r.transact(req)
				if err != nil {
					errc <- fmt.Errorf("register on %s: %w", tr.id(i), err)
					return
				}
				mu.Lock()
				results = append(results, result{req: req, resp: resp, after: late})
				mu.Unlock()
				if late {
					after[i].Add(1)
				}
			}
		}()
	}
	answered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(results)
	}
	poll(t, "answers before the stop", func() error {
		if n := answered(); n < 20 {
			return fmt.Errorf("%d answers", n)
		}
		return nil
	})
	stopped.Store(true)
	if err := tr.cl.StopNode(l); err != nil {
		t.Fatalf("stop the active: %v", err)
	}
	nl := tr.leader()
	poll(t, "answers through every surviving node after the election", func() error {
		select {
		case err := <-errc:
			t.Fatal(err)
		default:
		}
		for _, i := range survivors {
			if n := after[i].Load(); n < 10 {
				return fmt.Errorf("%s: %d answers after the stop", tr.id(i), n)
			}
		}
		return nil
	})
	quit.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	approved := map[string]*wire.Message{}
	for _, res := range results {
		if res.resp.ResponseCode != "00" {
			t.Errorf("%s: RC %s, want 00 (the active was only stopped)", res.req.Key(), res.resp.ResponseCode)
			continue
		}
		res.resp.Amount = res.req.Amount
		approved[res.req.Key()] = res.resp
	}
	// Each register's last answer came from the new active, through its
	// standby or from the new active itself.
	for _, tid := range []string{"FAIL000" + strconv.Itoa(survivors[0]), "FAIL000" + strconv.Itoa(survivors[1])} {
		var lastResp *wire.Message
		for _, res := range results {
			if res.req.TerminalID == tid {
				lastResp = res.resp
			}
		}
		if an, nd := hint(lastResp, wire.TagActiveAddr), hint(lastResp, wire.TagNodeID); an != tr.addr(nl) || nd != tr.id(nl) {
			t.Errorf("%s: last answer hints AN %q ND %q, want the new active's %q %q", tid, an, nd, tr.addr(nl), tr.id(nl))
		}
	}
	tr.checkStored(survivors, approved)
	if got := tr.metric(tr.id(survivors[0]), "tillgate_relayed_requests_total", nil) +
		tr.metric(tr.id(survivors[1]), "tillgate_relayed_requests_total", nil); got == 0 {
		t.Error("no request was relayed")
	}

	// Quorum gone: the last node must neither authorize nor relay to
	// itself; the register hears "not processed" and may resend anywhere.
	last := survivors[0]
	if last == nl {
		last = survivors[1]
	}
	if err := tr.cl.StopNode(nl); err != nil {
		t.Fatalf("stop the new active: %v", err)
	}
	r := newRegister(t, tr.addr(last), "ALONE001")
	r.wait = 5 * time.Second
	req := r.purchase(300)
	poll(t, "a not-processed answer from the node left alone", func() error {
		resp, err := r.attempt(req)
		if err != nil {
			r.drop()
			return err
		}
		if !notProcessed(resp) || hint(resp, wire.TagNodeID) != tr.id(last) {
			return fmt.Errorf("RC %s NP %q ND %q", resp.ResponseCode, hint(resp, "NP"), hint(resp, wire.TagNodeID))
		}
		return nil
	})
	if _, ok, err := tr.cl.Nodes[last].Store().Get(req.Key()); ok || err != nil {
		t.Errorf("a standby without an active stored the request (ok %v, err %v)", ok, err)
	}
}

// TestRelayCarriesOnWhenTheActiveGoes: a request a standby relayed to an
// active that stops before answering is handed on to the next active as a
// repeat: the register gets its answer on its first attempt instead of
// waiting out its timeout to repeat.
func TestRelayCarriesOnWhenTheActiveGoes(t *testing.T) {
	tr := startTrio(t)
	l := tr.leader()
	s := (l + 1) % 3
	tr.waitHint(s, tr.addr(l))
	// The acquirer takes the active's request and never answers: the
	// INTENT stays open on the active until it stops.
	if err := tr.sim.SetFault(sim.Fault{DropAnswers: true}); err != nil {
		t.Fatal(err)
	}
	r := newRegister(t, tr.addr(s), "CARRY001")
	r.wait = 90 * time.Second // one attempt; a repeat would hide what the node did
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
	active := tr.cl.Nodes[l]
	poll(t, "the relayed INTENT open on the active", func() error {
		tx, ok, err := active.Store().Get(req.Key())
		if err != nil || !ok || tx.Status != store.StatusPending {
			return fmt.Errorf("found %v, %v: %+v", ok, err, tx)
		}
		return nil
	})
	if err := tr.sim.SetFault(sim.Fault{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.cl.StopNode(l); err != nil {
		t.Fatalf("stop the active: %v", err)
	}
	a := <-done
	if a.err != nil {
		t.Fatalf("no answer on the first attempt through the standby: %v", a.err)
	}
	if a.resp.ResponseCode != wire.RCApproved {
		t.Fatalf("RC %s, want 00 (the next active resolves the open INTENT)", a.resp.ResponseCode)
	}
	if n := tr.metric(tr.id(s), "tillgate_carried_on_total", nil); n < 1 {
		t.Errorf("the standby carried on %v requests, want the relayed one", n)
	}
}

// syncBuffer is a bytes.Buffer the nodes' loggers share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Bytes is a copy of what was written.
func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}
