package wire

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/<dialect>/*.hex golden frames")

// goldenPath is the file of one sample frame in one dialect.
func goldenPath(dialect, name string) string {
	return filepath.Join("testdata", dialect, name+".hex")
}

// formatHex writes 32 bytes a line so diffs stay readable.
func formatHex(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(32, len(b))
		sb.WriteString(strings.ToUpper(hex.EncodeToString(b[:n])))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

func readGolden(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test ./wire -run Golden -update): %v", err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil {
		t.Fatalf("golden %s: %v", path, err)
	}
	return b
}

// TestGolden packs every sample in both dialects and compares the whole
// frame byte for byte with testdata; then unpacks the golden frame and
// expects the sample back.
func TestGolden(t *testing.T) {
	for _, td := range testDialects {
		c := NewCodec(td.d)
		for _, s := range samples() {
			t.Run(td.name+"/"+s.name, func(t *testing.T) {
				frame, err := c.PackFrame(nil, s.m)
				if err != nil {
					t.Fatalf("PackFrame: %v", err)
				}
				path := goldenPath(td.name, s.name)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(formatHex(frame)), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want := readGolden(t, path)
				if !bytes.Equal(frame, want) {
					t.Fatalf("frame differs from %s\ngot:\n%swant:\n%s", path, formatHex(frame), formatHex(want))
				}
				payload, n, err := td.d.Next(want)
				if err != nil || n != len(want) {
					t.Fatalf("Next(golden) = n %d err %v, want n %d", n, err, len(want))
				}
				got, err := c.Unpack(payload)
				if err != nil {
					t.Fatalf("Unpack(golden): %v", err)
				}
				if !reflect.DeepEqual(got, s.m) {
					t.Fatalf("Unpack(golden)\ngot  %+v\nwant %+v", got, s.m)
				}
			})
		}
	}
}

// TestGoldenHandAssembled builds expected frames byte by byte from the
// ISO 8583 rules, independently of the packer, so the golden files cannot
// merely echo whatever the packer does.
func TestGoldenHandAssembled(t *testing.T) {
	purchase := &Message{
		MTI: "0200", PAN: testPAN, ProcCode: "000000", Amount: 1234, HasAmount: true,
		TransmissionTime: testDE7, STAN: "000102", LocalTime: "163015", LocalDate: "0612",
		POSEntryMode: "051", POSCondition: "00", TerminalID: testTerm, MerchantID: testMerch,
		Currency: "978", PINBlock: []byte{0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0},
	}
	// Fields 2,3,4,7 | 11,12,13 | 22 | 25 | - | 41,42 | 49,52 | -
	purchaseBitmap := []byte{0x72, 0x38, 0x04, 0x80, 0x00, 0xC0, 0x90, 0x00}
	purchaseFields := "16" + testPAN + // DE2 LLVAR
		"000000" + // DE3
		"000000001234" + // DE4 n12
		testDE7 + "000102" + "163015" + "0612" + // DE7, DE11, DE12, DE13
		"051" + "00" + // DE22, DE25
		testTerm + testMerch + // DE41, DE42
		"978" + // DE49
		"123456789ABCDEF0" // DE52 as 16 hex characters
	payload := append([]byte("0200"), purchaseBitmap...)
	payload = append(payload, purchaseFields...)
	wantDefault := append([]byte{byte(len(payload) >> 8), byte(len(payload))}, payload...)

	signOn := &Message{MTI: "0800", TransmissionTime: testDE7, STAN: "000112", TerminalID: testTerm, NetworkCode: NetSignOn}
	// Primary: bit 1 (secondary present), 7 | 11 | 41; secondary: bit 70.
	signOnPayload := "0800" + "8220000000800000" + "0400000000000000" + testDE7 + "000112" + testTerm + "001"
	wantHex := []byte("0063" + signOnPayload)
	if len(signOnPayload) != 63 {
		t.Fatalf("hand-assembled length %d, fix the test", len(signOnPayload))
	}

	// The same 0800 in the default dialect: binary bitmaps.
	signOnBin := append([]byte("0800"), 0x82, 0x20, 0, 0, 0, 0x80, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0)
	signOnBin = append(signOnBin, testDE7+"000112"+testTerm+"001"...)
	wantSignOnDefault := append([]byte{0, byte(len(signOnBin))}, signOnBin...)

	tests := []struct {
		name string
		d    Dialect
		m    *Message
		want []byte
	}{
		{"0200 default", DefaultDialect(), purchase, wantDefault},
		{"0800 hex bitmap ascii4", testDialects[1].d, signOn, wantHex},
		{"0800 default", DefaultDialect(), signOn, wantSignOnDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCodec(tt.d)
			got, err := c.PackFrame(nil, tt.m)
			if err != nil {
				t.Fatalf("PackFrame: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got\n%swant\n%s", formatHex(got), formatHex(tt.want))
			}
			payload, _, err := tt.d.Next(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			m, err := c.Unpack(payload)
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if !reflect.DeepEqual(m, tt.m) {
				t.Fatalf("Unpack\ngot  %+v\nwant %+v", m, tt.m)
			}
		})
	}

	// The 0800 sign-on golden file must hold exactly the hand-built frame.
	if got := readGolden(t, goldenPath("hexbitmap_ascii4", "0800_signon")); !bytes.Equal(got, wantHex) {
		t.Fatalf("golden 0800_signon differs from the hand-assembled frame")
	}
	if got := readGolden(t, goldenPath("default", "0800_signon")); !bytes.Equal(got, wantSignOnDefault) {
		t.Fatalf("golden default 0800_signon differs from the hand-assembled frame")
	}
}
