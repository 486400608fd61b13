package wire

import "testing"

func TestMTIHelpers(t *testing.T) {
	tests := []struct {
		mti, resp, orig string
		repeat          bool
	}{
		{"0100", "0110", "0100", false},
		{"0101", "0110", "0100", true},
		{"0120", "0130", "0120", false},
		{"0200", "0210", "0200", false},
		{"0201", "0210", "0200", true},
		{"0220", "0230", "0220", false},
		{"0221", "0230", "0220", true},
		{"0400", "0410", "0400", false},
		{"0401", "0410", "0400", true},
		{"0420", "0430", "0420", false},
		{"0421", "0430", "0420", true},
		{"0500", "0510", "0500", false},
		{"0800", "0810", "0800", false},
		{"0210", "", "0210", false},
		{"0811", "", "0810", true},
		{"0240", "", "0240", false},
		{"020", "", "020", false},
		{"02A1", "", "02A1", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		if got := ResponseMTI(tt.mti); got != tt.resp {
			t.Errorf("ResponseMTI(%q) = %q, want %q", tt.mti, got, tt.resp)
		}
		if got := OriginalMTI(tt.mti); got != tt.orig {
			t.Errorf("OriginalMTI(%q) = %q, want %q", tt.mti, got, tt.orig)
		}
		if got := IsRepeat(tt.mti); got != tt.repeat {
			t.Errorf("IsRepeat(%q) = %v, want %v", tt.mti, got, tt.repeat)
		}
	}
}

func TestMaskPAN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"4111111111111111", "411111******1111"},
		{"4111111111111111111", "411111*********1111"},
		{"123456789012", "123456**9012"},
		{"12345678901", "***********"},
		{"1234", "****"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskPAN(tt.in); got != tt.want {
			t.Errorf("MaskPAN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidatePAN(t *testing.T) {
	tests := []struct {
		pan string
		ok  bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false}, // bad check digit
		{"5555555555554444", true},
		{"378282246310005", true},
		{"6011000990139424", true},
		{"4222222222222", true},         // 13 digits
		{"000000000000", true},          // 12 digits, Luhn 0
		{"00000000000", false},          // 11 digits
		{"00000000000000000000", false}, // 20 digits
		{"4111-1111-1111-1111", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidatePAN(tt.pan); got != tt.ok {
			t.Errorf("ValidatePAN(%q) = %v, want %v", tt.pan, got, tt.ok)
		}
	}
}
