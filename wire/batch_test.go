package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// TestBatchHandAssembled builds the default-dialect frames of a 0500 with
// totals and a 0320 byte by byte, so that the totals and the upload's
// fields are checked against ISO 8583 rather than against the packer, and
// the golden files must hold exactly these bytes.
func TestBatchHandAssembled(t *testing.T) {
	byName := map[string]*Message{}
	for _, s := range samples() {
		byName[s.name] = s.m
	}
	// 0500: primary 1 (secondary), 3, 7 | 11 | 41, 42 | 49; secondary 74-77 | 86-88 | 89 | 97.
	settleBitmap := []byte{0xA2, 0x20, 0, 0, 0, 0xC0, 0x80, 0, 0, 0x78, 0x07, 0x80, 0x80, 0, 0, 0}
	settleFields := ProcSettle + "0612230000" + "000114" + testTerm + testMerch + "978" +
		"0000000001" + "0000000001" + "0000000012" + "0000000002" + // DE74-77 n10
		"0000000000000999" + "0000000000000500" + "0000000000054321" + "0000000000002468" + // DE86-89 n16
		"C0000000000053322" // DE97: sign and 16 digits
	// 0320: primary 1, 3, 4, 7 | 11 | 38, 39 | 41, 42 | 49; secondary 90.
	uploadBitmap := []byte{0xB2, 0x20, 0, 0, 0x06, 0xC0, 0x80, 0, 0, 0, 0, 0x40, 0, 0, 0, 0}
	uploadFields := "000000" + "000000001234" + "0612230100" + "000115" + "A1B2C3" + "00" + testTerm + testMerch + "978" +
		"0200" + "000102" + testDE7 + "0000000000000000000000"
	frame := func(mti string, bitmap []byte, fields string) []byte {
		p := append(append([]byte(mti), bitmap...), fields...)
		return append([]byte{byte(len(p) >> 8), byte(len(p))}, p...)
	}
	tests := []struct {
		name string
		want []byte
	}{
		{"0500_settle", frame("0500", settleBitmap, settleFields)},
		{"0320_upload", frame("0320", uploadBitmap, uploadFields)},
	}
	c := NewCodec(DefaultDialect())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := byName[tt.name]
			got, err := c.PackFrame(nil, m)
			if err != nil {
				t.Fatalf("PackFrame: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got\n%swant\n%s", formatHex(got), formatHex(tt.want))
			}
			if g := readGolden(t, goldenPath("default", tt.name)); !bytes.Equal(g, tt.want) {
				t.Fatalf("golden %s differs from the hand-assembled frame", tt.name)
			}
			back := mustUnpackFrame(t, c, tt.want)
			if !reflect.DeepEqual(back, m) {
				t.Fatalf("Unpack\ngot  %+v\nwant %+v", back, m)
			}
		})
	}
}

func mustUnpackFrame(t *testing.T, c *Codec, frame []byte) *Message {
	t.Helper()
	payload, _, err := c.Dialect().Next(frame)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	m, err := c.Unpack(payload)
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	return m
}

// TestPartialTotals: a 0500 that carries only some totals unpacks, packs
// back to the same fields (a relay must not invent zeros) and fails
// validation naming the first missing field.
func TestPartialTotals(t *testing.T) {
	c := NewCodec(DefaultDialect())
	// DE7, DE11, DE41 and DE74, DE76 only: secondary byte 9 holds 74 (0x40) and 76 (0x10).
	bitmap := []byte{0x82, 0x20, 0, 0, 0, 0x80, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0}
	p := append(append([]byte("0500"), bitmap...), "0612230000"+"000111"+testTerm+"0000000003"+"0000000004"...)
	m, err := c.Unpack(p)
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	if m.Totals == nil || m.Totals.CreditsCount != 3 || m.Totals.DebitsCount != 4 || m.MissingTotal() != 75 {
		t.Fatalf("totals %+v missing %d", m.Totals, m.MissingTotal())
	}
	if back := mustPack(t, c, m); !bytes.Equal(back, p) {
		t.Fatalf("repacked\n%swant\n%s", formatHex(back), formatHex(p))
	}
	var fe *FormatError
	if err := ValidateRequest(m); !errors.As(err, &fe) || fe.Field != 75 || !errors.Is(err, ErrMissingField) {
		t.Fatalf("ValidateRequest = %v, want field 75 missing", err)
	}
}

func TestValidateBatchMessages(t *testing.T) {
	tests := []struct {
		name   string
		sample string
		mutate func(m *Message)
		field  int
		cause  error
	}{
		{"settle", "0500_settle", func(m *Message) {}, 0, nil},
		{"after upload", "0500_after_upload", func(m *Message) {}, 0, nil},
		{"settle without DE3", "0500_settle", func(m *Message) { m.ProcCode = "" }, 0, nil},
		{"settle repeat", "0500_settle", func(m *Message) { m.MTI = "0501" }, 0, nil},
		{"settle DE3 purchase", "0500_settle", func(m *Message) { m.ProcCode = "000000" }, 3, ErrInvalidField},
		{"settle DE3 letters", "0500_settle", func(m *Message) { m.ProcCode = "92000A" }, 3, ErrInvalidField},
		{"settle without totals", "0500_settle", func(m *Message) { m.Totals = nil }, 74, ErrMissingField},
		{"settle without DE97", "0500_settle", func(m *Message) { m.totalsAbsent = 1 << 8 }, 97, ErrMissingField},
		{"settle without DE86 and DE97", "0500_settle", func(m *Message) { m.totalsAbsent = 1<<4 | 1<<8 }, 86, ErrMissingField},
		{"upload", "0320_upload", func(m *Message) {}, 0, nil},
		{"upload repeat", "0320_upload", func(m *Message) { m.MTI = "0321" }, 0, nil},
		{"upload without DE38/39", "0320_upload", func(m *Message) { m.AuthCode, m.ResponseCode = "", "" }, 0, nil},
		{"upload without DE3", "0320_upload", func(m *Message) { m.ProcCode = "" }, 3, ErrMissingField},
		{"upload without DE4", "0320_upload", func(m *Message) { m.HasAmount = false }, 4, ErrMissingField},
		{"upload without DE7", "0320_upload", func(m *Message) { m.TransmissionTime = "" }, 7, ErrMissingField},
		{"upload without DE11", "0320_upload", func(m *Message) { m.STAN = "" }, 11, ErrMissingField},
		{"upload without DE41", "0320_upload", func(m *Message) { m.TerminalID = "" }, 41, ErrMissingField},
		{"upload without DE90", "0320_upload", func(m *Message) { m.OriginalData = "" }, 90, ErrMissingField},
		{"upload DE90 short", "0320_upload", func(m *Message) { m.OriginalData = "0200" }, 90, ErrInvalidField},
		{"upload DE38 short", "0320_upload", func(m *Message) { m.AuthCode = "A1" }, 38, ErrInvalidField},
		{"upload DE39 long", "0320_upload", func(m *Message) { m.ResponseCode = "000" }, 39, ErrInvalidField},
		{"upload DE39 punctuation", "0320_upload", func(m *Message) { m.ResponseCode = "0-" }, 39, ErrInvalidField},
		{"upload answer", "0330_upload", func(m *Message) {}, 0, ErrInvalidField},
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
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, tt.cause) || fe.RC() != RCFormatError {
				t.Fatalf("ValidateRequest = %v, want field %d %v", err, tt.field, tt.cause)
			}
		})
	}
}

func TestBatchResponseMTIs(t *testing.T) {
	for req, want := range map[string]string{"0320": "0330", "0321": "0330", "0500": "0510", "0501": "0510"} {
		if got := ResponseMTI(req); got != want {
			t.Errorf("ResponseMTI(%s) = %s, want %s", req, got, want)
		}
	}
}
