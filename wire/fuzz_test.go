package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode drives framing and unpacking with arbitrary bytes, in the
// style of moov-io/iso8583's fuzz_test.go: nothing may panic, and whatever
// unpacks must pack and unpack back to the same message.
//
//	go test ./wire -run XXX -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	for _, td := range testDialects {
		c := NewCodec(td.d)
		for _, s := range samples() {
			frame, err := c.PackFrame(nil, s.m)
			if err != nil {
				f.Fatal(err)
			}
			hl := td.d.headerLen()
			f.Add(frame)
			f.Add(frame[hl:])                  // payload alone
			f.Add(frame[:len(frame)-1])        // truncated
			f.Add(append(frame, frame[:5]...)) // a frame and a partial one
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.hex"))
	if len(files) == 0 {
		f.Fatal("no golden files for the seed corpus")
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		frame, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
		if err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		f.Add(frame)
	}
	for _, seed := range [][]byte{
		nil,
		{0, 0},
		{0xFF, 0xFF},
		[]byte("0000"),
		[]byte("99990200"),
		[]byte("0200\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
		[]byte("0200FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"),
		[]byte("0200\x40\x00\x00\x00\x00\x00\x00\x0099"),
		[]byte("0200\x00\x00\x00\x00\x00\x01\x00\x00999AN"),
		[]byte("0200\x00\x00\x00\x00\x00\x00\x02\x00-01"),
	} {
		f.Add(seed)
	}
	codecs := []*Codec{NewCodec(testDialects[0].d), NewCodec(testDialects[1].d)}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range codecs {
			checkUnpack(t, c, data)
			buf := data
			for {
				payload, n, err := c.Dialect().Next(buf)
				if err != nil || n == 0 {
					if err != nil && (payload != nil || n != 0) {
						t.Fatalf("Next returned an error with data")
					}
					break
				}
				if n > len(buf) || len(payload) == 0 || len(payload) > c.Dialect().maxFrame() ||
					!bytes.Equal(payload, buf[n-len(payload):n]) {
					t.Fatalf("Next: bad frame n=%d payload=%d buf=%d", n, len(payload), len(buf))
				}
				checkUnpack(t, c, payload)
				buf = buf[n:]
			}
		}
	})
}

// checkUnpack asserts the codec's invariants on one payload.
func checkUnpack(t *testing.T, c *Codec, payload []byte) {
	t.Helper()
	// The unexported forms have no recover: a panic must reach the fuzzer.
	mti, stan, ok := c.peek(payload)
	if _, _, err := c.unpack(payload); err != nil && c.err == nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			t.Fatalf("unpack returned a FormatError before wrapping: %v", err)
		}
	}
	m, err := c.Unpack(payload)
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("Unpack error %T is not a *FormatError: %v", err, err)
		}
		if fe.MTI != mti || fe.STAN != stan {
			t.Fatalf("FormatError MTI/STAN %q/%q, Peek %q/%q", fe.MTI, fe.STAN, mti, stan)
		}
		return
	}
	if mti != m.MTI || stan != m.STAN || ok != (m.STAN != "") {
		t.Fatalf("Peek = %q %q %v, Unpack MTI %q STAN %q", mti, stan, ok, m.MTI, m.STAN)
	}
	packed, err := c.Pack(m)
	if err != nil {
		t.Fatalf("Pack of an unpacked message: %v", err)
	}
	m2, err := c.Unpack(packed)
	if err != nil {
		t.Fatalf("Unpack of a packed message: %v", err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("round trip differs\n%+v\n%+v", m, m2)
	}
	_ = ValidateRequest(m)
}
