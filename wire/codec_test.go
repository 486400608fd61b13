package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// purchasePayload is the default-dialect payload of the hand-assembled
// purchase in golden_test.go: fields 2,3,4,7,11,12,13,22,25,41,42,49.
func purchasePayload(fields string) []byte {
	p := append([]byte("0200"), 0x72, 0x38, 0x04, 0x80, 0x00, 0xC0, 0x80, 0x00)
	return append(p, fields...)
}

const purchaseFields = "16" + testPAN + "000000" + "000000001234" + testDE7 + "000102" + "163015" + "0612" +
	"051" + "00" + testTerm + testMerch + "978"

func TestUnpackValidBase(t *testing.T) {
	// The base of the bad-input table must itself be valid.
	m, err := NewCodec(DefaultDialect()).Unpack(purchasePayload(purchaseFields))
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	if m.PAN != testPAN || m.Amount != 1234 || !m.HasAmount || m.STAN != "000102" || m.Currency != "978" {
		t.Fatalf("unexpected message %+v", m)
	}
}

func TestUnpackBadInput(t *testing.T) {
	def := NewCodec(DefaultDialect())
	hexc := NewCodec(testDialects[1].d)
	replace := func(old, new string) []byte {
		if !strings.Contains(purchaseFields, old) {
			panic("test: " + old + " not in purchaseFields")
		}
		return purchasePayload(strings.Replace(purchaseFields, old, new, 1))
	}
	withBitmap := func(bm []byte, fields string) []byte {
		return append(append([]byte("0200"), bm...), fields...)
	}
	tests := []struct {
		name  string
		c     *Codec
		in    []byte
		field int
		mti   string
		stan  string
		rc    string
	}{
		{"empty", def, nil, 0, "", "", RCFormatError},
		{"short MTI", def, []byte("02"), 0, "", "", RCFormatError},
		{"non-digit MTI", def, []byte("02X0\x00\x00\x00\x00\x00\x00\x00\x00"), 0, "", "", RCFormatError},
		{"garbage", def, []byte("\xff\xfe\x00garbage"), 0, "", "", RCFormatError},
		{"truncated primary bitmap", def, []byte("0200\x72\x38"), 1, "0200", "", RCFormatError},
		{"truncated secondary bitmap", def, []byte("0800\x82\x20\x00\x00\x00\x00\x00\x00\x04\x00"), 1, "0800", "", RCFormatError},
		{"hex bitmap not hex", hexc, []byte("0200723804800GC08000"), 1, "0200", "", RCFormatError},
		{"hex bitmap truncated", hexc, []byte("02007238"), 1, "0200", "", RCFormatError},
		{"LLVAR over max", def, replace("16"+testPAN, "20"+testPAN+"0000"), 2, "0200", "000102", RCFormatError}, // Peek does not check maxima
		{"LLVAR non-digit length", def, replace("16"+testPAN, "1A"+testPAN), 2, "0200", "", RCFormatError},
		{"LLVAR signed length", def, replace("16"+testPAN, "+9"+testPAN), 2, "0200", "", RCFormatError},
		{"LLVAR past end", def, withBitmap([]byte{0x40, 0, 0, 0, 0, 0, 0, 0}, "19411111"), 2, "0200", "", RCFormatError},
		{"PAN not digits", def, replace(testPAN, "41111111111111X1"), 2, "0200", "000102", RCFormatError},
		{"amount not digits", def, replace("000000001234", "00000000123A"), 4, "0200", "000102", RCInvalidAmount},
		{"STAN not digits", def, replace(testDE7+"000102", testDE7+"00010X"), 11, "0200", "", RCFormatError},
		{"terminal not ASCII", def, replace(testTerm, "TERM\xc3\xa901"), 41, "0200", "000102", RCFormatError},
		{"terminal control char", def, replace(testTerm, "TERM\x0001"), 41, "0200", "000102", RCFormatError},
		{"trailing bytes", def, purchasePayload(purchaseFields + "X"), 0, "0200", "000102", RCFormatError},
		{"missing last field", def, purchasePayload(strings.TrimSuffix(purchaseFields, "978")), 49, "0200", "000102", RCFormatError},
		{"bit 65 set", def, []byte("0800\x80\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00\x00\x00\x00\x00"), 65, "0800", "", RCFormatError},
		{"DE48 bad TLV", def, withBitmap([]byte{0, 0, 0, 0, 0, 0x01, 0, 0}, "007AN005ab"), 48, "0200", "", RCFormatError},
		{"DE55 odd hex length", def, withBitmap([]byte{0, 0, 0, 0, 0, 0, 0x02, 0}, "0039F2"), 55, "0200", "", RCFormatError},
		{"DE55 bad hex", def, withBitmap([]byte{0, 0, 0, 0, 0, 0, 0x02, 0}, "0049FZZ"), 55, "0200", "", RCFormatError},
		{"DE52 short", def, withBitmap([]byte{0, 0, 0, 0, 0, 0, 0x10, 0}, "12345678"), 52, "0200", "", RCFormatError},
		{"DE97 bad sign", def, append([]byte("0500\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00"), "X0000000000000001"...), 97, "0500", "", RCFormatError},
		{"DE97 non-digit", def, append([]byte("0500\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00\x00\x00"), "C000000000000000A"...), 97, "0500", "", RCFormatError},
		{"DE90 short", def, append([]byte("0400\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0x40), 0, "0400", "", RCFormatError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.c.Unpack(tt.in)
			if err == nil {
				t.Fatalf("Unpack succeeded: %+v", m)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FormatError", err, err)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if fe.Field != tt.field || fe.MTI != tt.mti || fe.STAN != tt.stan || fe.RC() != tt.rc {
				t.Fatalf("got field %d mti %q stan %q rc %s, want %d %q %q %s (%v)",
					fe.Field, fe.MTI, fe.STAN, fe.RC(), tt.field, tt.mti, tt.stan, tt.rc, err)
			}
			if strings.Contains(err.Error(), testPAN) {
				t.Fatalf("error leaks the PAN: %v", err)
			}
		})
	}
}

func TestUnpackTruncatedEverywhere(t *testing.T) {
	// Every proper prefix of every sample is an error, never a panic.
	for _, td := range testDialects {
		c := NewCodec(td.d)
		for _, s := range samples() {
			p := mustPack(t, c, s.m)
			for i := range len(p) {
				if _, err := c.Unpack(p[:i]); err == nil {
					t.Fatalf("%s/%s: prefix %d/%d unpacked", td.name, s.name, i, len(p))
				}
			}
		}
	}
}

func TestPeek(t *testing.T) {
	for _, td := range testDialects {
		c := NewCodec(td.d)
		for _, s := range samples() {
			mti, stan, ok := c.Peek(mustPack(t, c, s.m))
			if !ok || mti != s.m.MTI || stan != s.m.STAN {
				t.Fatalf("%s/%s: Peek = %q %q %v", td.name, s.name, mti, stan, ok)
			}
		}
	}
	def := NewCodec(DefaultDialect())
	tests := []struct {
		name      string
		in        []byte
		mti, stan string
		ok        bool
	}{
		{"bad amount still peeks", purchasePayload(strings.Replace(purchaseFields, "000000001234", "ABCDEFGHIJKL", 1)), "0200", "000102", true},
		{"bad later field still peeks", purchasePayload(purchaseFields[:len(purchaseFields)-2]), "0200", "000102", true},
		{"no DE11", []byte("0200\x40\x00\x00\x00\x00\x00\x00\x0016" + testPAN), "0200", "", false},
		{"DE2 past end", []byte("0200\x40\x20\x00\x00\x00\x00\x00\x0099123"), "0200", "", false},
		{"STAN not digits", purchasePayload(strings.Replace(purchaseFields, "000102", "00010X", 1)), "0200", "", false},
		{"empty", nil, "", "", false},
		{"bad MTI", []byte("ABCD"), "", "", false},
		{"no bitmap", []byte("0200"), "0200", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mti, stan, ok := def.Peek(tt.in)
			if mti != tt.mti || stan != tt.stan || ok != tt.ok {
				t.Fatalf("Peek = %q %q %v, want %q %q %v", mti, stan, ok, tt.mti, tt.stan, tt.ok)
			}
		})
	}
}

func TestPackErrors(t *testing.T) {
	base := func() *Message {
		return &Message{MTI: "0200", PAN: testPAN, ProcCode: "000000", Amount: 1, HasAmount: true,
			TransmissionTime: testDE7, STAN: "000001", TerminalID: testTerm, Currency: "978"}
	}
	tests := []struct {
		name   string
		mutate func(m *Message)
	}{
		{"bad MTI", func(m *Message) { m.MTI = "200" }},
		{"MTI letters", func(m *Message) { m.MTI = "02A0" }},
		{"PAN too long", func(m *Message) { m.PAN = strings.Repeat("4", 20) }},
		{"PAN letters", func(m *Message) { m.PAN = "4111X11111111111" }},
		{"short terminal", func(m *Message) { m.TerminalID = "T1" }},
		{"STAN letters", func(m *Message) { m.STAN = "00000A" }},
		{"negative amount", func(m *Message) { m.Amount = -1 }},
		{"amount 13 digits", func(m *Message) { m.Amount = 1_000_000_000_000 }},
		{"PIN block 7 bytes", func(m *Message) { m.PINBlock = make([]byte, 7) }},
		{"ICC too long", func(m *Message) { m.ICC = make([]byte, 500) }},
		{"TLV bad tag", func(m *Message) { m.Private = TLVs{{"a", "x"}} }},
		{"TLV value too long", func(m *Message) { m.Private = TLVs{{"ZZ", strings.Repeat("x", 1000)}} }},
		{"DE48 over 999", func(m *Message) { m.Private = TLVs{{"ZZ", strings.Repeat("x", 600)}, {"YY", strings.Repeat("x", 600)}} }},
		{"non-ASCII merchant", func(m *Message) { m.MerchantID = "MERCHANT000000\xe9" }},
		{"totals count overflow", func(m *Message) { m.Totals = &Totals{DebitsCount: 10_000_000_000} }},
		{"net amount min int", func(m *Message) { m.Totals = &Totals{NetAmount: -1 << 63} }},
		{"network code long", func(m *Message) { m.NetworkCode = "0001" }},
	}
	for _, td := range testDialects {
		c := NewCodec(td.d)
		if _, err := c.Pack(base()); err != nil {
			t.Fatalf("base message: %v", err)
		}
		if _, err := c.Pack(nil); err == nil {
			t.Fatal("Pack(nil) succeeded")
		}
		for _, tt := range tests {
			t.Run(td.name+"/"+tt.name, func(t *testing.T) {
				m := base()
				tt.mutate(m)
				if p, err := c.Pack(m); err == nil || !errors.Is(err, ErrInvalidField) {
					t.Fatalf("Pack = %q, %v; want ErrInvalidField", p, err)
				}
				dst := []byte("keep")
				got, err := c.PackFrame(dst, m)
				if err == nil || string(got) != "keep" {
					t.Fatalf("PackFrame = %q, %v; want dst unchanged and an error", got, err)
				}
			})
		}
	}
}

func TestPackFrameTooLarge(t *testing.T) {
	c := NewCodec(Dialect{MaxFrame: 30})
	m := &Message{MTI: "0800", TransmissionTime: testDE7, STAN: "000001", NetworkCode: NetEcho,
		Private: TLVs{{"ZZ", strings.Repeat("x", 40)}}}
	got, err := c.PackFrame([]byte("keep"), m)
	if !errors.Is(err, ErrFrameTooLarge) || string(got) != "keep" {
		t.Fatalf("PackFrame = %q, %v; want ErrFrameTooLarge", got, err)
	}
}

func TestInvalidDialectCodec(t *testing.T) {
	c := NewCodec(Dialect{Bitmap: 5})
	if _, err := c.Pack(samples()[0].m); !errors.Is(err, ErrInvalidDialect) {
		t.Fatalf("Pack: %v", err)
	}
	var fe *FormatError
	if _, err := c.Unpack([]byte("0800")); !errors.As(err, &fe) || !errors.Is(err, ErrInvalidDialect) {
		t.Fatalf("Unpack: %v", err)
	}
	if _, _, ok := c.Peek([]byte("0800")); ok {
		t.Fatal("Peek ok with an invalid dialect")
	}
}

func TestRoundTripEdgeValues(t *testing.T) {
	m := &Message{
		MTI: "0200", PAN: "123456789012", ProcCode: "000000", Amount: 999_999_999_999, HasAmount: true,
		TransmissionTime: testDE7, STAN: "999999", Track2: "1234567890123456789=1234567890123456D",
		TerminalID: "        ", MerchantID: "~!@#$%^&*()_+{}", Currency: "000",
		Private: TLVs{{"ZZ", ""}, {"AN", strings.Repeat("a", 900)}, {"AN", "dup"}},
		ICC:     bytes.Repeat([]byte{0xAB}, 499), AddAmounts: strings.Repeat("9", 120),
		Totals: &Totals{CreditsCount: 9_999_999_999, DebitsAmount: 9_999_999_999_999_999, NetAmount: -9_999_999_999_999_999},
	}
	for _, td := range testDialects {
		c := NewCodec(Dialect{Bitmap: td.d.Bitmap, Header: td.d.Header, MaxFrame: 9999})
		frame, err := c.PackFrame(nil, m)
		if err != nil {
			t.Fatalf("%s: PackFrame: %v", td.name, err)
		}
		payload, _, err := c.Dialect().Next(frame)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Unpack(payload)
		if err != nil {
			t.Fatalf("%s: Unpack: %v", td.name, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%s: round trip\ngot  %+v\nwant %+v", td.name, got, m)
		}
	}
}

func TestUnpackDoesNotAliasPayload(t *testing.T) {
	c := NewCodec(DefaultDialect())
	s := samples()[0].m
	p := mustPack(t, c, s)
	m, err := c.Unpack(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p {
		p[i] = 'X'
	}
	if !reflect.DeepEqual(m, s) {
		t.Fatal("message changed when the payload buffer was reused")
	}
}

func TestCodecConcurrent(t *testing.T) {
	c := NewCodec(DefaultDialect())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range samples() {
				p, err := c.Pack(s.m)
				if err == nil {
					var m *Message
					if m, err = c.Unpack(p); err == nil && !reflect.DeepEqual(m, s.m) {
						err = errors.New(s.name + " differs")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestSharedTextHidesCard checks that the copy of the payload the text
// fields share has the card data blanked: PAN, expiry, track 2, PIN block
// and ICC get copies of their own, so a field kept after the answer (a
// terminal id, a STAN) pins none of them.
func TestSharedTextHidesCard(t *testing.T) {
	c := NewCodec(DefaultDialect())
	for _, name := range []string{"0200_purchase", "0200_track2"} {
		var m *Message
		for _, s := range samples() {
			if s.name == name {
				m = s.m
			}
		}
		p := mustPack(t, c, m)
		got, err := c.Unpack(p)
		if err != nil {
			t.Fatal(err)
		}
		// MTI is the first 4 bytes of the shared copy.
		shared := unsafe.String(unsafe.StringData(got.MTI), len(p))
		if !strings.HasPrefix(shared, m.MTI) || !strings.Contains(shared, testTerm) {
			t.Fatalf("%s: MTI is not backed by the shared copy", name)
		}
		if strings.Contains(shared, testPAN[6:12]) {
			t.Fatalf("%s: shared copy holds the card number", name)
		}
		for what, v := range map[string][]byte{"PIN block": m.PINBlock, "ICC": m.ICC} {
			if len(v) > 0 && strings.Contains(strings.ToUpper(shared), strings.ToUpper(hex.EncodeToString(v))) {
				t.Fatalf("%s: shared copy holds the %s", name, what)
			}
		}
		if m.Expiry != "" && within(shared, got.Expiry) {
			t.Fatalf("%s: the expiry is a substring of the shared copy", name)
		}
		if got.PAN != m.PAN || got.Track2 != m.Track2 || !bytes.Equal(got.PINBlock, m.PINBlock) || !bytes.Equal(got.ICC, m.ICC) || got.Expiry != m.Expiry {
			t.Fatalf("%s: card fields %q %q %x %x %q", name, got.PAN, got.Track2, got.PINBlock, got.ICC, got.Expiry)
		}

	}
}

// within reports s backed by shared's bytes.
func within(shared, s string) bool {
	b, p := uintptr(unsafe.Pointer(unsafe.StringData(shared))), uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= b && p < b+uintptr(len(shared))
}
