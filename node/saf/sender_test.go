package saf

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// senderRig is a SAF sender on a real store with a fake acquirer and a
// commit that applies straight into the store.
type senderRig struct {
	t     *testing.T
	f     *Forwarder
	s     *sender
	index uint64

	mu   sync.Mutex
	sent []*wire.Message
	// answer decides the fake acquirer's reply to m.
	answer func(m *wire.Message) (*wire.Message, error)
}

// newSenderRig is a sender of acquirer acq1 on a node that configures
// the acquirers named (acq1 by default).
func newSenderRig(t *testing.T, configured ...string) *senderRig {
	if len(configured) == 0 {
		configured = []string{"acq1"}
	}
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := store.NewVault(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	r := &senderRig{t: t}
	r.f = New(Options{
		Config:     Config{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, SkipAfter: 3, Poll: 10 * time.Millisecond},
		LateWindow: acquirer.DefaultConfig().Timeout + 5*time.Second, // a node's request timeout
		State:      st,
		Acquirers:  names(configured),
		Vault:      v,
		Health:     healthy{},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry(),
	})
	r.s = r.f.newSender("acq1", r.send, r.commit)
	return r
}

// names are configured acquirers without links (the rig sends through its
// own fake).
type names []string

func (n names) Names() []string            { return n }
func (n names) Link(string) *acquirer.Link { return nil }

type healthy struct{}

func (healthy) Halted() error { return nil }
func (healthy) Fail(error)    {}

func (r *senderRig) send(_ context.Context, m *wire.Message) (*wire.Message, error) {
	r.mu.Lock()
	r.sent = append(r.sent, m)
	r.mu.Unlock()
	return r.answer(m)
}

func (r *senderRig) commit(_ context.Context, cmd []byte) (any, error) {
	r.index++
	return r.f.cfg.State.(*store.Store).ApplyBatch([]uint64{r.index}, [][]byte{cmd})[0], nil
}

// unknown records transaction i with an unknown outcome: a reversal owed.
func (r *senderRig) unknown(i int) string {
	r.t.Helper()
	stan := fmt.Sprintf("%06d", i)
	enc, bin, last4, hash, _ := r.f.cfg.Vault.(*store.Vault).Seal("4111111111111111", "TERM0001"+stan+"1122120000")
	tx := &store.Txn{ID: "TERM0001" + stan + "1122120000", Type: store.TypePurchase, MTI: "0200", ProcCode: "000000",
		Amount: int64(100 * i), Currency: "978", TerminalID: "TERM0001", STAN: stan, TransmissionTime: "1122120000",
		PANEnc: enc, BIN: bin, Last4: last4, PANHash: hash, Acquirer: "acq1", AcqSTAN: stan, AcqTime: "1122120001",
		CreatedAt: time.Now().UnixNano()}
	for _, cmd := range [][]byte{store.IntentCmd(tx), store.OutcomeSAFCmd(store.Outcome{ID: tx.ID, Status: store.StatusUnknown, RC: "91", AuthCode: "", StandIn: false, At: tx.CreatedAt}, store.SAFEntry{Acquirer: "acq1", Kind: store.SAFReversal, STAN: fmt.Sprintf("9%05d", i), AcqTime: "1122120002"})} {
		if res, _ := r.commit(context.Background(), cmd); res.(store.Result).Err != nil {
			r.t.Fatal(res.(store.Result).Err)
		}
	}
	return tx.ID
}

func (r *senderRig) queued() []uint64 {
	q, err := r.f.cfg.State.SAFQueue("acq1", 0, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range q {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

// passes runs the sender's loop body until cond or a bound on passes.
func (r *senderRig) passes(cond func() bool) {
	r.t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(r.s.pass(context.Background()))
	}
	r.t.Fatal("condition not reached")
}

func ack(m *wire.Message) (*wire.Message, error) {
	return &wire.Message{MTI: wire.ResponseMTI(m.MTI), STAN: m.STAN, TransmissionTime: m.TransmissionTime,
		TerminalID: m.TerminalID, ResponseCode: wire.RCApproved}, nil
}

func TestSAFSenderSkipsPastABadEntry(t *testing.T) {
	r := newSenderRig(t)
	ids := []string{r.unknown(1), r.unknown(2), r.unknown(3)}
	bad := "900002"
	r.answer = func(m *wire.Message) (*wire.Message, error) {
		resp, _ := ack(m)
		if m.STAN == bad {
			resp.ResponseCode = wire.RCFormatError
		}
		return resp, nil
	}
	// First pass: 1 acknowledged, 2 refused, 3 waits behind it.
	r.s.pass(context.Background())
	if q := r.queued(); len(q) != 2 || q[0] != 2 || len(r.sent) != 2 {
		t.Fatalf("after one pass: queued %v, sent %d", q, len(r.sent))
	}
	r.passes(func() bool { return len(r.queued()) == 1 })
	// 3 left only after 2 had failed SkipAfter times; 2 stays queued.
	var attemptsOf2, before3 int
	for _, m := range r.sent {
		switch m.STAN {
		case bad:
			attemptsOf2++
			if attemptsOf2 > 1 && m.MTI != "0421" {
				t.Errorf("retry sent as %s, want the repeat 0421", m.MTI)
			}
		case "900003":
			before3 = attemptsOf2
		}
	}
	if before3 != 3 || r.queued()[0] != 2 {
		t.Fatalf("entry 3 sent after %d attempts of entry 2 (want 3); queued %v", before3, r.queued())
	}
	for i, id := range ids {
		tx, _, _ := r.f.cfg.State.Get(id)
		want := store.StatusReversed
		if i == 1 {
			want = store.StatusUnknown
		}
		if tx.Status != want {
			t.Errorf("%s: %v, want %v", id, tx.Status, want)
		}
	}
	// Once the acquirer takes it, the skipped entry goes too; nothing
	// acknowledged is sent again.
	bad = ""
	r.passes(func() bool { return len(r.queued()) == 0 })
	seen := map[string]int{}
	for _, m := range r.sent {
		seen[m.STAN]++
	}
	if seen["900001"] != 1 || seen["900003"] != 1 {
		t.Fatalf("acknowledged entries sent again: %v", seen)
	}
}

func TestSAFSenderUnavailableCostsNoAttempt(t *testing.T) {
	r := newSenderRig(t)
	r.unknown(1)
	r.unknown(2)
	down := true
	r.answer = func(m *wire.Message) (*wire.Message, error) {
		if down {
			return nil, fmt.Errorf("test: %w", acquirer.ErrUnavailable)
		}
		return ack(m)
	}
	for range 10 {
		r.s.pass(context.Background())
	}
	if len(r.s.tries) != 0 || len(r.sent) != 10 {
		t.Fatalf("down acquirer: %d entries with attempts, %d sends (want 0 and one per pass)", len(r.s.tries), len(r.sent))
	}
	for _, m := range r.sent {
		if m.STAN != "900001" {
			t.Fatalf("sent %s past the head while the acquirer was down", m.STAN)
		}
	}
	down = false
	r.passes(func() bool { return len(r.queued()) == 0 })
}
