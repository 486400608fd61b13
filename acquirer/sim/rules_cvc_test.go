package sim

import (
	"testing"
	"time"

	"github.com/tillgate/tillgate/wire"
)

func TestDecideCVC(t *testing.T) {
	now := time.Date(2025, 11, 22, 12, 0, 0, 0, time.UTC)
	m := &wire.Message{MTI: "0100", PAN: "4761739001010119", ProcCode: "000000", Amount: 100, HasAmount: true}
	if rc := decide(m, KindPreAuth, now); rc != wire.RCApproved {
		t.Fatalf("no CVC: %s, want 00", rc)
	}
	m.Private.Set(wire.TagCVC, "123")
	if rc := decide(m, KindPreAuth, now); rc != wire.RCApproved {
		t.Fatalf("CVC 123: %s, want 00", rc)
	}
	m.Private.Set(wire.TagCVC, CVCWrong)
	if rc := decide(m, KindPreAuth, now); rc != RCCVCFailed {
		t.Fatalf("CVC 000: %s, want %s", rc, RCCVCFailed)
	}
}
