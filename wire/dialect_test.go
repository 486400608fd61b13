package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestDialectValidate(t *testing.T) {
	tests := []struct {
		name string
		d    Dialect
		ok   bool
	}{
		{"default", DefaultDialect(), true},
		{"zero value", Dialect{}, true},
		{"hex ascii4", Dialect{Bitmap: BitmapHex, Header: HeaderASCII4, MaxFrame: 9999}, true},
		{"binary2 max", Dialect{MaxFrame: 0xFFFF}, true},
		{"bad bitmap", Dialect{Bitmap: 7}, false},
		{"bad header", Dialect{Header: -1}, false},
		{"negative max", Dialect{MaxFrame: -1}, false},
		{"ascii4 too large", Dialect{Header: HeaderASCII4, MaxFrame: 10000}, false},
		{"binary2 too large", Dialect{MaxFrame: 0x10000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidDialect) {
				t.Fatalf("error %v does not wrap ErrInvalidDialect", err)
			}
		})
	}
}

func TestNext(t *testing.T) {
	bin := DefaultDialect()
	small := Dialect{MaxFrame: 10}
	a4 := Dialect{Header: HeaderASCII4}
	tests := []struct {
		name    string
		d       Dialect
		buf     []byte
		payload []byte
		n       int
		err     error
	}{
		{"empty buffer", bin, nil, nil, 0, nil},
		{"one header byte", bin, []byte{0}, nil, 0, nil},
		{"header only", bin, []byte{0, 3}, nil, 0, nil},
		{"partial payload", bin, []byte{0, 3, 'a', 'b'}, nil, 0, nil},
		{"whole frame", bin, []byte{0, 3, 'a', 'b', 'c'}, []byte("abc"), 5, nil},
		{"frame and more", bin, []byte{0, 2, 'a', 'b', 0, 9}, []byte("ab"), 4, nil},
		{"length zero", bin, []byte{0, 0, 'x'}, nil, 0, ErrEmptyFrame},
		{"length 0xFFFF", bin, []byte{0xFF, 0xFF}, nil, 0, ErrFrameTooLarge},
		{"over default max", bin, []byte{0x10, 0x01}, nil, 0, ErrFrameTooLarge},
		{"at default max, partial", bin, []byte{0x10, 0x00}, nil, 0, nil},
		{"over custom max", small, []byte{0, 11}, nil, 0, ErrFrameTooLarge},
		{"ascii4 partial header", a4, []byte("00"), nil, 0, nil},
		{"ascii4 whole", a4, []byte("0003abcX"), []byte("abc"), 7, nil},
		{"ascii4 zero", a4, []byte("0000"), nil, 0, ErrEmptyFrame},
		{"ascii4 over max", a4, []byte("4097"), nil, 0, ErrFrameTooLarge},
		{"ascii4 non-digit", a4, []byte("00a3abc"), nil, 0, ErrBadHeader},
		{"ascii4 non-digit partial", a4, []byte{'0', 0x02}, nil, 0, ErrBadHeader},
		{"ascii4 binary header", a4, []byte{0, 3, 'a', 'b', 'c'}, nil, 0, ErrBadHeader},
		{"ascii4 sign", a4, []byte("+003abc"), nil, 0, ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, n, err := tt.d.Next(tt.buf)
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if n != tt.n || !bytes.Equal(payload, tt.payload) {
				t.Fatalf("Next = %q, %d; want %q, %d", payload, n, tt.payload, tt.n)
			}
			if err != nil && (payload != nil || n != 0) {
				t.Fatalf("error with payload %q n %d", payload, n)
			}
		})
	}
}

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name    string
		d       Dialect
		payload []byte
		want    []byte
		err     error
	}{
		{"binary2", DefaultDialect(), []byte("abc"), []byte{'x', 0, 3, 'a', 'b', 'c'}, nil},
		{"ascii4", Dialect{Header: HeaderASCII4}, []byte("abc"), []byte("x0003abc"), nil},
		{"empty", DefaultDialect(), nil, []byte("x"), ErrEmptyFrame},
		{"too large", Dialect{MaxFrame: 2}, []byte("abc"), []byte("x"), ErrFrameTooLarge},
		{"invalid dialect", Dialect{Bitmap: 9}, []byte("abc"), []byte("x"), ErrInvalidDialect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.d.AppendFrame([]byte("x"), tt.payload)
			if !errors.Is(err, tt.err) || (err != nil) != (tt.err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("AppendFrame = %q, want %q", got, tt.want)
			}
		})
	}
	// The largest frames round-trip through Next.
	for _, d := range []Dialect{{MaxFrame: 0xFFFF}, {Header: HeaderASCII4, MaxFrame: 9999}} {
		payload := bytes.Repeat([]byte{'z'}, d.MaxFrame)
		frame, err := d.AppendFrame(nil, payload)
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := d.Next(frame)
		if err != nil || n != len(frame) || !bytes.Equal(got, payload) {
			t.Fatalf("%+v: Next(max frame) n %d err %v", d, n, err)
		}
	}
}

// decodeStream feeds chunks to a decoder loop as a connection would and
// returns the unpacked messages.
func decodeStream(t *testing.T, c *Codec, chunks [][]byte) []*Message {
	t.Helper()
	var buf []byte
	var out []*Message
	for _, ch := range chunks {
		buf = append(buf, ch...)
		for {
			payload, n, err := c.Dialect().Next(buf)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if n == 0 {
				break
			}
			m, err := c.Unpack(payload)
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			out = append(out, m)
			buf = buf[n:]
		}
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left over", len(buf))
	}
	return out
}

// TestChunkedStream splits a stream of frames at every byte boundary (and
// byte by byte) and expects the same messages each time.
func TestChunkedStream(t *testing.T) {
	for _, td := range testDialects {
		t.Run(td.name, func(t *testing.T) {
			c := NewCodec(td.d)
			var stream []byte
			var want []*Message
			for _, s := range samples()[:6] {
				var err error
				if stream, err = c.PackFrame(stream, s.m); err != nil {
					t.Fatal(err)
				}
				want = append(want, s.m)
			}
			for cut := 0; cut <= len(stream); cut++ {
				got := decodeStream(t, c, [][]byte{stream[:cut], stream[cut:]})
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("split at %d: messages differ", cut)
				}
			}
			var bytewise [][]byte
			for i := range stream {
				bytewise = append(bytewise, stream[i:i+1])
			}
			if got := decodeStream(t, c, bytewise); !reflect.DeepEqual(got, want) {
				t.Fatal("byte by byte: messages differ")
			}
		})
	}
}
