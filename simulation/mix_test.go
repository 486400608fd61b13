package simulation

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

var mixClock = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// testBuilder is a register's builder with a local STAN counter.
func testBuilder(seed uint64) *builder {
	n := 0
	return newBuilder("S0000001", DefaultMix(), stream(seed, "mix/S0000001"), func() string { n++; return fmt.Sprintf("%06d", n) })
}

// answerAll plays n steps, answering each with answer(step).
func answerAll(b *builder, n int, answer func(step) (rc string, unknown bool)) []step {
	var out []step
	for i := range n {
		s := b.next(mixClock.Add(time.Duration(i) * time.Second))
		rc, unknown := answer(s)
		b.learn(s, rc, unknown)
		out = append(out, s)
	}
	return out
}

func approveAll(step) (string, bool) { return wire.RCApproved, false }

func TestMixSameSeedSameRequests(t *testing.T) {
	a := answerAll(testBuilder(7), 300, approveAll)
	b := answerAll(testBuilder(7), 300, approveAll)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed, clock and answers gave different requests")
	}
	if reflect.DeepEqual(a, answerAll(testBuilder(8), 300, approveAll)) {
		t.Fatal("seeds 7 and 8 gave the same requests")
	}
}

// TestMixRequestsAreValid: every request passes the node's own validation,
// every identity is new, and each kind has its shape.
func TestMixRequestsAreValid(t *testing.T) {
	seen := map[string]bool{}
	kinds := map[Kind]int{}
	for _, s := range answerAll(testBuilder(3), 2000, approveAll) {
		kinds[s.Kind]++
		if err := wire.ValidateRequest(s.Req); err != nil {
			t.Fatalf("%s %+v: %v", s.Kind, s.Req, err)
		}
		if seen[s.Req.Key()] {
			t.Fatalf("identity %s sent twice as a new request", s.Req.Key())
		}
		seen[s.Req.Key()] = true
		checkShape(t, s)
	}
	for _, w := range DefaultMix().Kinds {
		if kinds[w.v] == 0 {
			t.Errorf("no %s in 2000 steps: %v", w.v, kinds)
		}
	}
}

func checkShape(t *testing.T, s step) {
	t.Helper()
	m := s.Req
	want := map[Kind]string{
		KindPurchase: "0200 00", KindRefund: "0200 20", KindCashback: "0200 09", KindBalance: "0200 31",
		KindPreAuth: "0100 00", KindCompletion: "0220 00", KindAdvice: "0120 00", KindReversal: "0400 ",
		KindVoidUnknown: "0400 ", KindEcho: "0800 ",
	}[s.Kind]
	got := m.MTI + " "
	if len(m.ProcCode) >= 2 && !strings.HasPrefix(want, "04") {
		got += m.ProcCode[:2]
	}
	if got != want {
		t.Fatalf("%s: MTI %s DE3 %s", s.Kind, m.MTI, m.ProcCode)
	}
	if s.Kind == KindAdvice && len(m.AuthCode) != 6 {
		t.Errorf("advice without its offline DE38: %+v", m)
	}
	if s.Kind == KindBalance && m.HasAmount {
		t.Errorf("balance inquiry with an amount: %+v", m)
	}
}

// TestMixCompletesAndReversesWhatWasApproved: a completion names an
// approved pre-auth and a reversal an approved purchase of the register,
// each at most once; nothing is completed or reversed that was declined.
func TestMixCompletesAndReversesWhatWasApproved(t *testing.T) {
	approved := map[string]string{} // DE90 prefix (MTI+STAN+DE7) -> MTI
	named := map[string]bool{}
	declineOdd := func(s step) (string, bool) {
		if n := s.Req.STAN[5] - '0'; n%2 == 1 {
			return "05", false
		}
		approved[s.Req.MTI+s.Req.STAN+s.Req.TransmissionTime] = s.Req.MTI
		return wire.RCApproved, false
	}
	for _, s := range answerAll(testBuilder(11), 3000, declineOdd) {
		if s.Kind != KindCompletion && s.Kind != KindReversal {
			continue
		}
		orig := s.Req.OriginalData[:20]
		wantMTI := map[Kind]string{KindCompletion: "0100", KindReversal: "0200"}[s.Kind]
		if approved[orig] != wantMTI || named[orig] {
			t.Fatalf("%s names %s: approved as %q, named before: %v", s.Kind, orig, approved[orig], named[orig])
		}
		named[orig] = true
	}
	if len(named) == 0 {
		t.Fatal("nothing completed or reversed")
	}
}

// TestMixVoidUnknown: a purchase of unknown outcome is what a void names
// first; with none, the void names a purchase that is sent right after it.
func TestMixVoidUnknown(t *testing.T) {
	b := testBuilder(5)
	unknown := b.base("0200", mixClock)
	b.card(unknown)
	b.learn(step{Kind: KindPurchase, Req: unknown}, "", true)
	first := b.build(KindVoidUnknown, mixClock)
	if got, want := first.Req.OriginalData[:20], "0200"+unknown.STAN+unknown.TransmissionTime; got != want {
		t.Fatalf("void names %s, want the unknown purchase %s", got, want)
	}
	second := b.build(KindVoidUnknown, mixClock)
	next := b.next(mixClock)
	if got, want := second.Req.OriginalData[:20], "0200"+next.Req.STAN+next.Req.TransmissionTime; got != want || next.Req.MTI != "0200" {
		t.Fatalf("void names %s; the next step is %s %s", got, next.Req.MTI, want)
	}
}
