package loadtest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// TestMixOriginals drives one register's request builder with a mix of
// every kind, answering each request 00 unless its amount ends in 51 (as
// acqsim does), and checks that every completion names an approved
// pre-auth of the same register and every reversal an approved purchase,
// each at most once, and that the requests pass the ISO 8583 checks.
func TestMixOriginals(t *testing.T) {
	r := newRegister(0, 42, 1, nil)
	mix := Mix{Purchase: 3, Refund: 1, PreAuth: 2, Completion: 2, Reversal: 2, Echo: 1}
	pick := rand.New(rand.NewPCG(7, 7))
	approved := map[string]string{} // DE90 prefix (MTI+STAN+DE7) -> kind
	used := map[string]bool{}
	counts := map[string]int{}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3000 {
		req, kind := r.next(mix.pick(pick), now.Add(time.Duration(i)*time.Millisecond))
		counts[kind]++
		if err := wire.ValidateRequest(req); err != nil {
			t.Fatalf("%s request %+v: %v", kind, req, err)
		}
		if req.TerminalID != "L0000042" {
			t.Fatalf("terminal %q", req.TerminalID)
		}
		checkOriginal(t, kind, req, approved, used)
		rc := wire.RCApproved
		if req.Amount%100 == 51 {
			rc = wire.RCInsufficientFunds
		}
		if rc == wire.RCApproved && (kind == KindPreAuth || kind == KindPurchase) {
			approved[req.MTI+req.STAN+req.TransmissionTime] = kind
		}
		r.learn(req, kind, &wire.Message{ResponseCode: rc})
	}
	for _, k := range kinds {
		if counts[k] < 100 {
			t.Errorf("%d %s in 3000 requests: %v", counts[k], k, counts)
		}
	}
}

func checkOriginal(t *testing.T, kind string, req *wire.Message, approved map[string]string, used map[string]bool) {
	t.Helper()
	want := map[string]struct{ mti, orig string }{
		KindPurchase: {"0200", ""}, KindRefund: {"0200", ""}, KindPreAuth: {"0100", ""},
		KindCompletion: {"0220", KindPreAuth}, KindReversal: {"0400", KindPurchase}, KindEcho: {"0800", ""},
	}[kind]
	if req.MTI != want.mti {
		t.Fatalf("%s sent as %s", kind, req.MTI)
	}
	if want.orig == "" {
		if req.OriginalData != "" {
			t.Fatalf("%s with DE90 %q", kind, req.OriginalData)
		}
		return
	}
	if len(req.OriginalData) != 42 {
		t.Fatalf("%s DE90 %q", kind, req.OriginalData)
	}
	o := req.OriginalData[:20]
	if approved[o] != want.orig {
		t.Fatalf("%s names %s, which is not an approved %s (it is %q)", kind, o, want.orig, approved[o])
	}
	if used[o] {
		t.Fatalf("%s names %s a second time", kind, o)
	}
	used[o] = true
}

func TestEchoAndAcquirerTime(t *testing.T) {
	r := newRegister(0, 1, 1, nil)
	req, kind := r.next(KindEcho, time.Now().UTC())
	if kind != KindEcho || req.MTI != "0800" || req.NetworkCode != wire.NetEcho || req.HasAmount {
		t.Fatalf("echo %+v", req)
	}
	// Nothing to complete or reverse yet: a pre-auth and a purchase instead.
	if _, k := r.next(KindCompletion, time.Now().UTC()); k != KindPreAuth {
		t.Errorf("completion with no pre-auth sent as %s", k)
	}
	if _, k := r.next(KindReversal, time.Now().UTC()); k != KindPurchase {
		t.Errorf("reversal with no purchase sent as %s", k)
	}
	for _, tc := range []struct {
		de48 wire.TLVs
		want time.Duration
	}{
		{wire.TLVs{{Tag: wire.TagNodeID, Value: "node1"}, {Tag: wire.TagAcquirerUS, Value: "1234"}}, 1234 * time.Microsecond},
		{wire.TLVs{{Tag: wire.TagNodeID, Value: "node1"}}, 0},
		{wire.TLVs{{Tag: wire.TagAcquirerUS, Value: "x"}}, 0},
	} {
		if got := acquirerTime(&wire.Message{Private: tc.de48}); got != tc.want {
			t.Errorf("AQ of %v = %v, want %v", tc.de48, got, tc.want)
		}
	}
}

func TestFleetTerminals(t *testing.T) {
	got := Config{Registers: 45000, TerminalBase: 7}.Terminals()
	if len(got) != 3 || got[0].From != "L0000007" || got[0].To != "L0020006" || got[2].From != "L0040007" || got[2].To != "L0045006" ||
		got[1].Merchant != Merchant || got[1].Store != Store {
		t.Fatalf("ranges %+v", got)
	}
}
