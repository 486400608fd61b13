package loadtest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/wire"
)

// openTestFleet opens registers against the fake node and runs a short
// load with every kind of transaction.
func openTestFleet(t *testing.T, f *fakeNode, registers int) *Fleet {
	t.Helper()
	fl, err := Open(Config{
		Nodes: []string{f.Addr}, Registers: registers, Dir: t.TempDir(), TerminalBase: 1,
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
	for _, m := range f.Received("0500") {
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
// 0500 960000; the others balance. The register knew that approval, so
// nothing it never learnt explains the difference: the close fails.
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
	if s.Balanced != 2 || s.AfterUpload != 0 || s.Failed != 1 || s.Failures["95 unexplained"] != 1 || s.Uploaded != want || want == 0 {
		t.Fatalf("summary %+v, want %d uploads and the 95 unexplained", s, want)
	}
	if len(s.Errors) != 1 || !strings.Contains(s.Errors[0], "the register counts more than the cluster") {
		t.Fatalf("errors %q", s.Errors)
	}
	if s.Equal() {
		t.Fatalf("cluster totals equal the registers' though the node missed one: %+v", s)
	}
	uploads := f.Received("0320")
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
	for _, m := range f.Received("0500", "0320") {
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

// TestCloseBatchesUploadExplained: the node approved a purchase it never
// answered and declined (25) the register's automatic reversal of it, so
// it counts at the node and not at the register: the 95 is explained by
// exactly that request, whose outcome the register never learnt.
func TestCloseBatchesUploadExplained(t *testing.T) {
	f := newFakeNode(t)
	f.dropNth, f.declineDropped = 3, true
	fl := openTestFleet(t, f, 2)
	s := closeAll(t, fl)
	if s.AfterUpload == 0 || s.Failed != 0 || s.Balanced+s.AfterUpload != 2 || len(s.Explained) != s.AfterUpload {
		t.Fatalf("summary %+v: want every 95 explained", s)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range s.Explained {
		found := false
		for k := range f.dropped {
			found = found || strings.Contains(e, k)
		}
		if !found {
			t.Errorf("explanation %q names none of the dropped requests %v", e, f.dropped)
		}
	}
}

func TestExplain(t *testing.T) {
	us := []unknownTx{{"A", wire.BucketDebit, 100}, {"B", wire.BucketDebit, 250}, {"C", wire.BucketCredit, 70}, {"D", wire.BucketDebit, 400}}
	for _, tc := range []struct {
		name string
		diff wire.Totals
		want string // keys, or "" for unexplained
	}{
		{"nothing", wire.Totals{}, "-"},
		{"one debit", wire.Totals{DebitsCount: 1, DebitsAmount: 250, NetAmount: 250}, "B"},
		{"two debits", wire.Totals{DebitsCount: 2, DebitsAmount: 500, NetAmount: 500}, "AD"},
		{"debit and credit", wire.Totals{DebitsCount: 1, DebitsAmount: 100, CreditsCount: 1, CreditsAmount: 70, NetAmount: 30}, "AC"},
		{"no subset adds up", wire.Totals{DebitsCount: 1, DebitsAmount: 300, NetAmount: 300}, ""},
		{"register counts more", wire.Totals{DebitsCount: -1, DebitsAmount: -100, NetAmount: -100}, ""},
		{"a reversal differs", wire.Totals{DebitsReversalCount: 1, DebitsReversalAmount: 100}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := explain(tc.diff, us)
			keys := "-"
			for _, u := range got {
				keys = strings.TrimPrefix(keys, "-") + u.key
			}
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("explained by %q", keys)
			case tc.want != "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && sortString(keys) != tc.want:
				t.Fatalf("explained by %q, want %q", keys, tc.want)
			}
		})
	}
}

func sortString(s string) string {
	b := []byte(s)
	slices.Sort(b)
	return string(b)
}

// TestHistory: with a History, every request is recorded with how it
// ended, and every entry the failover client queued and got acknowledged,
// naming the request it settles.
func TestHistory(t *testing.T) {
	f := newFakeNode(t)
	f.dropNth = 2
	log := history.New()
	fl, err := Open(Config{
		Nodes: []string{f.Addr}, Registers: 2, Dir: t.TempDir(), TerminalBase: 7, Duration: 10 * time.Second,
		Transactions: 20, Seed: 5, Mix: Mix{Purchase: 1}, RegisterDeadline: 600 * time.Millisecond, History: log,
		Tune: func(c *failover.Config) { c.SilenceProbe = 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	sum := fl.Run(context.Background())
	s := closeAll(t, fl)
	if s.Balanced != 2 {
		t.Fatalf("batches %+v", s)
	}
	if n, err := fl.Queued(); err != nil || n != 0 {
		t.Fatalf("%d entries still queued (%v)", n, err)
	}
	by := map[string]int{}
	queued, acked := map[string]bool{}, map[string]bool{}
	for _, e := range log.Events() {
		switch e.Kind {
		case history.Request:
			by[e.MTI+" "+e.Outcome]++
		case history.Queued:
			queued[e.Of] = true
		case history.Acked:
			acked[e.Of] = e.RC == wire.RCApproved
		}
	}
	if by["0200 answered"]+by["0200 unknown"] != int(sum.Completed) || by["0200 unknown"] != 2 || by["0500 answered"] != 2 {
		t.Fatalf("requests recorded %v, %d completed", by, sum.Completed)
	}
	for k := range f.dropped {
		if !queued[k] || !acked[k] {
			t.Errorf("the reversal of the unanswered %s: queued %v, acknowledged 00 %v", k, queued[k], acked[k])
		}
	}
}
