package loadtest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/internal/fakenode"
	"github.com/tillgate/tillgate/wire"
)

// fakeNode is a one-node "cluster" for the batch tests: the shared fake
// node (internal/fakenode) with a handler that approves everything (51 for
// amounts ending in 51), answers repeats as their original, and keeps each
// terminal's open batch by the contract of DESIGN.md (State and
// settlement), counted here independently of the register's model.
type fakeNode struct {
	*fakenode.Node
	t *testing.T

	mu      sync.Mutex
	answers map[string]*wire.Message // by identity: repeats get the same answer
	batches map[string]*fakeBatch    // by terminal: the open batch
	counts  map[string]int           // by terminal: purchases seen
	// dropNth: the nth purchase of each terminal (and its repeats) is
	// recorded approved but never answered, so the register's client
	// ends it unknown and reverses it.
	dropNth int
	dropped map[string]bool // identity keys never answered
	// declineDropped answers 25 (and counts nothing) to a reversal of a
	// dropped request, which thus stays approved at the node.
	declineDropped bool
	// forget: terminals whose first approval that still counts (not
	// reversed since) the node leaves out of its totals, so that their
	// 0500 gets a 95. (Forgetting an approval that is later voided would
	// change nothing: it counts nowhere on either side.)
	forget map[string]bool
	// settleRC, if set, answers every 0500 with it (the node before 0500
	// was implemented answered 96).
	settleRC string
}

type fakeTx struct {
	orig     string // MTI + DE11 + DE7, as DE90 names it
	bucket   wire.Bucket
	amount   int64
	reversed bool
}

type fakeBatch struct{ txs []*fakeTx }

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	f := &fakeNode{t: t, answers: map[string]*wire.Message{}, batches: map[string]*fakeBatch{}, counts: map[string]int{},
		dropped: map[string]bool{}, forget: map[string]bool{}}
	f.Node = fakenode.Start(t, "127.0.0.1:0", func(_ *fakenode.Node, m *wire.Message) (*wire.Message, bool, time.Duration) {
		return f.handle(m), false, 0
	})
	return f
}

// handle answers one request; nil says nothing.
func (f *fakeNode) handle(m *wire.Message) *wire.Message {
	if err := wire.ValidateRequest(m); err != nil {
		f.t.Errorf("fake node: %s invalid: %v", m.MTI, err)
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := m.Key()
	if f.dropped[key] {
		return nil
	}
	if a := f.answers[key]; a != nil && wire.OriginalMTI(m.MTI) != "0800" {
		return a
	}
	resp := *m
	resp.MTI = wire.ResponseMTI(m.MTI)
	resp.PAN, resp.Track2, resp.Expiry, resp.ResponseCode = "", "", "", wire.RCApproved
	switch wire.OriginalMTI(m.MTI) {
	case "0100", "0200", "0220":
		if m.Amount%100 == 51 {
			resp.ResponseCode = wire.RCInsufficientFunds
		} else {
			resp.AuthCode = "AB" + m.STAN[2:]
			f.count(m)
		}
		if f.drop(m) {
			return nil
		}
	case "0400", "0420":
		if f.declineDropped && f.dropped[m.TerminalID+m.OriginalData[4:20]] {
			resp.ResponseCode = "25"
			break
		}
		f.count(m)
	case "0320":
		// Recorded for the operator's reconciliation report: nothing to count.
	case "0500":
		f.settle(m, &resp)
	}
	f.answers[key] = &resp
	return &resp
}

// drop reports whether m is the terminal's dropNth purchase.
func (f *fakeNode) drop(m *wire.Message) bool {
	if f.dropNth == 0 || m.MTI != "0200" || !strings.HasPrefix(m.ProcCode, "00") {
		return false
	}
	f.counts[m.TerminalID]++
	if f.counts[m.TerminalID] != f.dropNth {
		return false
	}
	f.dropped[m.Key()] = true
	return true
}

// count records an approved m in its terminal's open batch.
func (f *fakeNode) count(m *wire.Message) {
	b := f.batch(m.TerminalID)
	tx := &fakeTx{orig: wire.OriginalMTI(m.MTI) + m.STAN + m.TransmissionTime, amount: m.Amount,
		bucket: wire.BucketOf(m.Kind(), m.ProcCode)}
	if tx.bucket == wire.BucketNone {
		return // pre-auths, balance inquiries: nowhere
	}
	if m.Kind().Reversal() {
		for _, o := range b.txs {
			if o.orig == m.OriginalData[:20] {
				o.reversed = true
			}
		}
	}
	b.txs = append(b.txs, tx)
}

func (f *fakeNode) batch(tid string) *fakeBatch {
	if f.batches[tid] == nil {
		f.batches[tid] = &fakeBatch{}
	}
	return f.batches[tid]
}

// settle answers a 0500 by the contract: 00 and close when the totals are
// the cluster's or after an upload, else 95; always the cluster's totals.
func (f *fakeNode) settle(m *wire.Message, resp *wire.Message) {
	for k := range f.dropped {
		if strings.HasPrefix(k, m.TerminalID) && !f.reversedLocked(k) {
			f.t.Errorf("fake node: 0500 of %s before its unanswered request %s was reversed", m.TerminalID, k)
		}
	}
	tot := f.batch(m.TerminalID).totals(f.forget[m.TerminalID])
	resp.Totals = &tot
	switch {
	case f.settleRC != "":
		resp.ResponseCode = f.settleRC
	case *m.Totals == tot || m.ProcCode == wire.ProcSettleAfterUpload:
		delete(f.batches, m.TerminalID)
		delete(f.forget, m.TerminalID)
	default:
		resp.ResponseCode = wire.RCReconcileError
	}
}

// reversedLocked reports whether a reversal named the request of key.
func (f *fakeNode) reversedLocked(key string) bool {
	stanDE7 := key[8:]
	for _, g := range f.Received() {
		if wire.OriginalMTI(g.MTI) == wire.MTIReversal && strings.HasSuffix(g.OriginalData[:20], stanDE7) {
			return true
		}
	}
	return false
}

// totals are the batch's totals; forget leaves out its first debit or
// credit that still counts.
func (b *fakeBatch) totals(forget bool) wire.Totals {
	var t wire.Totals
	for _, x := range b.txs {
		if x.reversed {
			continue
		}
		if forget && countsInNet(x.bucket) {
			forget = false
			continue
		}
		t.Count(x.bucket, 1, x.amount)
	}
	return t
}
