package wire

import (
	"errors"
	"testing"
)

func TestValidateRequestSamples(t *testing.T) {
	for _, s := range samples() {
		err := ValidateRequest(s.m)
		isRequest := ResponseMTI(s.m.MTI) != ""
		if isRequest && err != nil {
			t.Errorf("%s: ValidateRequest = %v", s.name, err)
		}
		if !isRequest && err == nil {
			t.Errorf("%s: a response validated as a request", s.name)
		}
	}
}

func TestValidateRequest(t *testing.T) {
	tests := []struct {
		name   string
		sample string
		mutate func(m *Message)
		field  int
		rc     string
		cause  error
	}{
		{"no card", "0200_purchase", func(m *Message) { m.PAN = "" }, 2, RCFormatError, ErrMissingField},
		{"track2 only", "0200_track2", func(m *Message) {}, 0, "", nil},
		{"short PAN", "0200_purchase", func(m *Message) { m.PAN = "41111" }, 2, RCFormatError, ErrInvalidField},
		{"no DE3", "0200_purchase", func(m *Message) { m.ProcCode = "" }, 3, RCFormatError, ErrMissingField},
		{"DE3 letters", "0200_purchase", func(m *Message) { m.ProcCode = "00000A" }, 3, RCFormatError, ErrInvalidField},
		{"no amount", "0200_purchase", func(m *Message) { m.HasAmount = false }, 4, RCFormatError, ErrMissingField},
		{"zero amount", "0200_purchase", func(m *Message) { m.Amount = 0 }, 4, RCInvalidAmount, ErrInvalidField},
		{"negative amount", "0100_preauth", func(m *Message) { m.Amount = -5 }, 4, RCInvalidAmount, ErrInvalidField},
		{"balance without amount", "0200_balance", func(m *Message) {}, 0, "", nil},
		{"balance zero amount", "0200_balance", func(m *Message) { m.HasAmount = true }, 0, "", nil},
		{"no DE7", "0200_purchase", func(m *Message) { m.TransmissionTime = "" }, 7, RCFormatError, ErrMissingField},
		{"DE7 month 13", "0200_purchase", func(m *Message) { m.TransmissionTime = "1312143015" }, 7, RCFormatError, ErrInvalidField},
		{"DE7 hour 24", "0200_purchase", func(m *Message) { m.TransmissionTime = "0612243015" }, 7, RCFormatError, ErrInvalidField},
		{"DE7 short", "0200_purchase", func(m *Message) { m.TransmissionTime = "061214301" }, 7, RCFormatError, ErrInvalidField},
		{"no STAN", "0200_purchase", func(m *Message) { m.STAN = "" }, 11, RCFormatError, ErrMissingField},
		{"STAN 5 digits", "0200_purchase", func(m *Message) { m.STAN = "00001" }, 11, RCFormatError, ErrInvalidField},
		{"no terminal", "0200_purchase", func(m *Message) { m.TerminalID = "" }, 41, RCFormatError, ErrMissingField},
		{"terminal 7 chars", "0200_purchase", func(m *Message) { m.TerminalID = "TERM001" }, 41, RCFormatError, ErrInvalidField},
		{"no currency", "0200_purchase", func(m *Message) { m.Currency = "" }, 49, RCFormatError, ErrMissingField},
		{"bad merchant", "0200_purchase", func(m *Message) { m.MerchantID = "M1" }, 42, RCFormatError, ErrInvalidField},
		{"bad DE12", "0200_purchase", func(m *Message) { m.LocalTime = "256000" }, 12, RCFormatError, ErrInvalidField},
		{"bad DE13", "0200_purchase", func(m *Message) { m.LocalDate = "0632" }, 13, RCFormatError, ErrInvalidField},
		{"bad DE14", "0200_purchase", func(m *Message) { m.Expiry = "2813" }, 14, RCFormatError, ErrInvalidField},
		{"repeat checked as original", "0201_repeat", func(m *Message) { m.STAN = "" }, 11, RCFormatError, ErrMissingField},
		{"completion without a card: the original's", "0220_completion", func(m *Message) { m.PAN, m.Track2 = "", "" }, 0, "", nil},
		{"completion short PAN", "0220_completion", func(m *Message) { m.PAN = "41111" }, 2, RCFormatError, ErrInvalidField},
		{"pre-auth advice without a card", "0100_preauth", func(m *Message) { m.MTI, m.PAN, m.Track2 = "0120", "", "" }, 2, RCFormatError, ErrMissingField},
		{"advice without DE90", "0220_completion", func(m *Message) { m.OriginalData = "" }, 90, RCFormatError, ErrMissingField},
		{"advice DE90 short", "0220_completion", func(m *Message) { m.OriginalData = "0100" }, 90, RCFormatError, ErrInvalidField},
		{"reversal without DE90", "0400_reversal", func(m *Message) { m.OriginalData = "" }, 90, RCFormatError, ErrMissingField},
		{"reversal without amount", "0400_reversal", func(m *Message) { m.HasAmount = false }, 4, RCFormatError, ErrMissingField},
		{"reversal advice bad DE90 time", "0420_reversal_advice", func(m *Message) {
			m.OriginalData = "0200000102" + "1399999999" + "0000000000100000000002"
		}, 90, RCFormatError, ErrInvalidField},
		{"reconcile without terminal", "0500_reconcile", func(m *Message) { m.TerminalID = "" }, 41, RCFormatError, ErrMissingField},
		{"network without DE70", "0800_echo", func(m *Message) { m.NetworkCode = "" }, 70, RCFormatError, ErrMissingField},
		{"network DE70 letters", "0800_echo", func(m *Message) { m.NetworkCode = "30X" }, 70, RCFormatError, ErrInvalidField},
		{"response MTI", "0210_purchase", func(m *Message) {}, 0, RCFormatError, ErrInvalidField},
		{"unknown MTI", "0200_purchase", func(m *Message) { m.MTI = "0300" }, 0, RCFormatError, ErrInvalidField},
		{"bad MTI", "0200_purchase", func(m *Message) { m.MTI = "02" }, 0, RCFormatError, ErrInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleNamed(t, tt.sample)
			tt.mutate(m)
			err := ValidateRequest(m)
			if tt.cause == nil {
				if err != nil {
					t.Fatalf("ValidateRequest = %v, want nil", err)
				}
				return
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("ValidateRequest = %v, want *FormatError", err)
			}
			if fe.Field != tt.field || fe.RC() != tt.rc || !errors.Is(err, tt.cause) {
				t.Fatalf("got field %d rc %s (%v), want field %d rc %s cause %v", fe.Field, fe.RC(), err, tt.field, tt.rc, tt.cause)
			}
			if fe.MTI != m.MTI || fe.STAN != m.STAN {
				t.Fatalf("FormatError MTI/STAN = %q/%q, want %q/%q", fe.MTI, fe.STAN, m.MTI, m.STAN)
			}
		})
	}
	if err := ValidateRequest(nil); err == nil {
		t.Fatal("ValidateRequest(nil) = nil")
	}
}
