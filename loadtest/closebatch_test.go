package loadtest

import (
	"context"
	"testing"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/wire"
)

// openTestFleet opens registers against the fake node and runs a short
// load with every kind of transaction.
func openTestFleet(t *testing.T, f *fakeNode, registers int) *Fleet {
	t.Helper()
	fl, err := Open(Config{
		Nodes: []string{f.addr}, Registers: registers, Dir: t.TempDir(), TerminalBase: 1,
		Duration: 10 * time.Second, Transactions: 30 * int64(registers), Seed: 3,
		Mix:              Mix{Purchase: 6, Refund: 2, PreAuth: 2, Completion: 2, Reversal: 2, Echo: 1},
		RegisterDeadline: 600 * time.Millisecond,
		Tune:             func(c *failover.Config) { c.SilenceProbe = 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Close() })
	if s := fl.Run(context.Background()); s.Completed == 0 {
		t.Fatalf("no transaction completed: %+v", s)
	}
	return fl
}

func closeAll(t *testing.T, fl *Fleet) BatchSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return fl.CloseBatches(ctx)
}

// TestCloseBatchesBalanced: with one request per register left
// unanswered (reversed by the failover client), every register's totals
// are the node's: each batch closes on its first 0500, after the queue
// drained, and the next batch starts empty.
func TestCloseBatchesBalanced(t *testing.T) {
	f := newFakeNode(t)
	f.dropNth = 3
	fl := openTestFleet(t, f, 3)
	s := closeAll(t, fl)
	if s.Balanced != 3 || s.Failed != 0 || s.AfterUpload != 0 || !s.Equal() {
		t.Fatalf("summary %+v", s)
	}
	if cs := fl.ClientStats(); cs.Unknown == 0 || s.Register.DebitsReversalCount < cs.Unknown {
		t.Fatalf("want the unanswered requests reversed and counted: client %+v, totals %+v", cs, s.Register)
	}
	if s.Register.DebitsCount == 0 || s.Register.CreditsCount == 0 || s.Register.Net != s.Register.DebitsAmount-s.Register.CreditsAmount {
		t.Fatalf("register totals %+v", s.Register)
	}
	for _, m := range f.received("0500") {
		if m.ProcCode != wire.ProcSettle {
			t.Fatalf("0500 DE3 %q", m.ProcCode)
		}
	}
	if again := closeAll(t, fl); again.Balanced != 3 || again.Register != (BatchTotals{}) || !again.Equal() {
		t.Fatalf("second close %+v", again)
	}
}

// TestCloseBatchesUpload: the node missed one approval of a register: its
// 0500 gets 95, it uploads every transaction of its batch and closes with
// 0500 960000; the others balance.
func TestCloseBatchesUpload(t *testing.T) {
	f := newFakeNode(t)
	fl := openTestFleet(t, f, 3)
	// Which register's batch holds an approval that still counts depends
	// on how the run shared its transactions out: forget one of those
	// (forgetting in a batch whose approvals were all voided changes
	// nothing on either side: it would balance).
	var reg *register
	for _, r := range fl.regs {
		if tot := r.batch.totals(); tot.DebitsCount+tot.CreditsCount > 0 {
			reg = r
		}
	}
	if reg == nil {
		t.Fatal("no register kept an approval that counts: nothing to forget")
	}
	f.mu.Lock()
	f.forget[reg.tid] = true
	f.mu.Unlock()
	want := len(reg.batch.transactions())
	s := closeAll(t, fl)
	if s.Balanced != 2 || s.AfterUpload != 1 || s.Failed != 0 || s.Uploaded != want || want == 0 {
		t.Fatalf("summary %+v, want %d uploads", s, want)
	}
	if s.Equal() {
		t.Fatalf("cluster totals equal the registers' though the node missed one: %+v", s)
	}
	uploads := f.received("0320")
	if len(uploads) != want {
		t.Fatalf("%d 0320s, want %d", len(uploads), want)
	}
	for _, u := range uploads {
		if u.TerminalID != reg.tid || len(u.OriginalData) != 42 {
			t.Fatalf("upload %+v", u)
		}
	}
	// Its messages: 0500 920000, the uploads, then 0500 960000.
	var seq []string
	for _, m := range f.received("0500", "0320") {
		if m.TerminalID == reg.tid {
			seq = append(seq, m.MTI+"/"+m.ProcCode)
		}
	}
	if len(seq) != want+2 || seq[0] != "0500/"+wire.ProcSettle || seq[len(seq)-1] != "0500/"+wire.ProcSettleAfterUpload {
		t.Fatalf("%s sent %v", reg.tid, seq)
	}
}

// TestCloseBatchesFailed: a node that does not reconcile (it answered 96
// before 0500 was implemented) fails every register.
func TestCloseBatchesFailed(t *testing.T) {
	f := newFakeNode(t)
	f.settleRC = wire.RCSystemError
	fl := openTestFleet(t, f, 2)
	s := closeAll(t, fl)
	if s.Failed != 2 || s.Failures["0510 rc 96"] != 2 || len(s.Errors) != 2 || s.Balanced+s.AfterUpload != 0 {
		t.Fatalf("summary %+v", s)
	}
}
