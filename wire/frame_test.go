package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// wholeFrames is what Dialect.Next makes of the whole stream at once: the
// payloads, then the error that stopped it (nil: a clean end or a partial
// frame).
func wholeFrames(d Dialect, stream []byte) ([][]byte, error) {
	var out [][]byte
	for {
		payload, n, err := d.Next(stream)
		if err != nil || n == 0 {
			return out, err
		}
		out = append(out, payload)
		stream = stream[n:]
	}
}

// chunkedFrames feeds stream to a FrameDecoder in chunks of the given
// sizes (cycled; at least 1 byte each) and collects what it returns.
func chunkedFrames(t testing.TB, d Dialect, stream []byte, sizes []byte) ([][]byte, error) {
	dec := NewFrameDecoder(d)
	var out [][]byte
	for i := 0; len(stream) > 0; i++ {
		size := 1
		if len(sizes) > 0 {
			size = int(sizes[i%len(sizes)]) + 1
		}
		chunk := stream[:min(size, len(stream))]
		stream = stream[len(chunk):]
		for len(chunk) > 0 {
			payload, n, err := dec.Decode(chunk)
			if err != nil {
				if payload != nil || n != 0 {
					t.Fatalf("Decode returned an error with data: n %d", n)
				}
				return out, err
			}
			if n == 0 || n > len(chunk) {
				t.Fatalf("Decode consumed %d of %d bytes", n, len(chunk))
			}
			if payload == nil && n != len(chunk) {
				t.Fatalf("Decode consumed %d of %d bytes and returned no frame", n, len(chunk))
			}
			if payload != nil {
				out = append(out, bytes.Clone(payload))
			}
			chunk = chunk[n:]
		}
	}
	return out, nil
}

// sameSentinel reports whether two framing errors are the same kind.
func sameSentinel(a, b error) bool {
	for _, s := range []error{ErrBadHeader, ErrEmptyFrame, ErrFrameTooLarge, ErrInvalidDialect} {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return (a == nil) == (b == nil)
}

func checkChunked(t testing.TB, d Dialect, stream, sizes []byte) {
	t.Helper()
	want, werr := wholeFrames(d, stream)
	got, gerr := chunkedFrames(t, d, stream, sizes)
	if !sameSentinel(werr, gerr) {
		t.Fatalf("chunked error %v, whole-stream error %v", gerr, werr)
	}
	if len(got) != len(want) {
		t.Fatalf("chunked %d frames, whole stream %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs: chunked %x, whole stream %x", i, got[i], want[i])
		}
	}
}

// testStream is several frames of each sample, back to back.
func testStream(t testing.TB, d Dialect) []byte {
	c := NewCodec(d)
	var stream []byte
	for _, s := range samples() {
		var err error
		if stream, err = c.PackFrame(stream, s.m); err != nil {
			t.Fatal(err)
		}
	}
	return stream
}

func TestFrameDecoderChunks(t *testing.T) {
	for _, td := range testDialects {
		stream := testStream(t, td.d)
		t.Run(td.name, func(t *testing.T) {
			for _, sizes := range [][]byte{nil, {0}, {1}, {2, 0, 7}, {254}, {255, 255, 255}} {
				checkChunked(t, td.d, stream, sizes)
			}
			r := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				sizes := make([]byte, 1+r.IntN(8))
				for i := range sizes {
					sizes[i] = byte(r.IntN(256))
				}
				checkChunked(t, td.d, stream, sizes)
			}
		})
	}
}

func TestFrameDecoderErrors(t *testing.T) {
	a4 := Dialect{Header: HeaderASCII4}
	tests := []struct {
		name   string
		d      Dialect
		stream []byte
		err    error
	}{
		{"empty frame", DefaultDialect(), []byte{0, 2, 'a', 'b', 0, 0}, ErrEmptyFrame},
		{"too large", DefaultDialect(), []byte{0, 1, 'a', 0x10, 0x01}, ErrFrameTooLarge},
		{"ascii header, bad byte", a4, []byte("0001a00x"), ErrBadHeader},
		{"ascii header, bad first byte", a4, []byte{0, 3}, ErrBadHeader},
		{"invalid dialect", Dialect{Header: 9}, []byte{0, 1, 'a'}, ErrInvalidDialect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sizes := range [][]byte{nil, {0}, {200}} {
				_, err := chunkedFrames(t, tt.d, tt.stream, sizes)
				if !errors.Is(err, tt.err) || !IsFramingError(err) {
					t.Fatalf("sizes %v: error %v, want %v", sizes, err, tt.err)
				}
			}
			dec := NewFrameDecoder(tt.d)
			for _, b := range tt.stream {
				if _, _, err := dec.Decode([]byte{b}); err != nil {
					break
				}
			}
			if _, _, err := dec.Decode([]byte{0, 1, 'a'}); !errors.Is(err, tt.err) {
				t.Fatalf("after the error, Decode = %v: the error must stick", err)
			}
		})
	}
}

// TestFrameDecoderAllocs: a long stream allocates nothing, whether its
// frames arrive whole or split (the buffer is allocated once, up front).
func TestFrameDecoderAllocs(t *testing.T) {
	stream := testStream(t, DefaultDialect())
	dec := NewFrameDecoder(DefaultDialect())
	feed := func(size int) {
		for p := stream; len(p) > 0; {
			chunk := p[:min(size, len(p))]
			p = p[len(chunk):]
			for len(chunk) > 0 {
				_, n, err := dec.Decode(chunk)
				if err != nil {
					t.Fatal(err)
				}
				chunk = chunk[n:]
			}
		}
	}
	feed(7) // the first split frame allocates the buffer
	for _, size := range []int{len(stream), 7, 100, 1} {
		if a := testing.AllocsPerRun(20, func() { feed(size) }); a != 0 {
			t.Errorf("chunks of %d: %v allocations per stream", size, a)
		}
	}
}

func TestFrameReader(t *testing.T) {
	for _, td := range testDialects {
		stream := testStream(t, td.d)
		want, _ := wholeFrames(td.d, stream)
		readers := map[string]func() io.Reader{
			"whole":    func() io.Reader { return bytes.NewReader(stream) },
			"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
			"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
			// The last bytes come with io.EOF: the frames first, then EOF.
			"data and EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
		}
		for name, newReader := range readers {
			t.Run(td.name+"/"+name, func(t *testing.T) {
				for _, size := range []int{0, 16, 1 << 16} {
					fr := NewFrameReader(newReader(), td.d, size)
					for i := range want {
						got, err := fr.Next()
						if err != nil || !bytes.Equal(got, want[i]) {
							t.Fatalf("buffer %d: frame %d: %x, %v", size, i, got, err)
						}
					}
					if _, err := fr.Next(); err != io.EOF {
						t.Fatalf("buffer %d: after the last frame: %v, want io.EOF", size, err)
					}
				}
			})
		}
	}
}

func TestFrameReaderErrors(t *testing.T) {
	// A framing error after a good frame: the frame, then the error.
	stream := append(testStream(t, DefaultDialect())[:0:0], 0, 1, 'a', 0, 0)
	fr := NewFrameReader(bytes.NewReader(stream), DefaultDialect(), 0)
	if p, err := fr.Next(); err != nil || string(p) != "a" {
		t.Fatalf("first frame %q, %v", p, err)
	}
	if _, err := fr.Next(); !errors.Is(err, ErrEmptyFrame) || !IsFramingError(err) {
		t.Fatalf("second Next: %v, want ErrEmptyFrame", err)
	}
	// A connection error mid-frame is returned as it is, and is no framing error.
	boom := errors.New("boom")
	fr.Reset(io.MultiReader(bytes.NewReader([]byte{0, 5, 'a'}), iotest.ErrReader(boom)), DefaultDialect())
	if _, err := fr.Next(); err != boom || IsFramingError(err) {
		t.Fatalf("Next after a read error: %v, want boom", err)
	}
	// A read error is returned once: after a timeout the frame goes on.
	timeout := errors.New("timeout")
	fr.Reset(io.MultiReader(bytes.NewReader([]byte{0, 5, 'a'}), iotest.ErrReader(timeout)), DefaultDialect())
	if _, err := fr.Next(); err != timeout {
		t.Fatalf("Next: %v, want the timeout", err)
	}
	fr.r = bytes.NewReader([]byte("bcde"))
	if p, err := fr.Next(); err != nil || string(p) != "abcde" {
		t.Fatalf("Next after the timeout: %q, %v; want the frame begun before it", p, err)
	}
	// Reset starts a clean stream.
	fr.Reset(bytes.NewReader([]byte{0, 2, 'o', 'k'}), DefaultDialect())
	if p, err := fr.Next(); err != nil || string(p) != "ok" {
		t.Fatalf("after Reset: %q, %v", p, err)
	}
}

// FuzzFrameDecoder feeds arbitrary bytes in arbitrary chunks: the decoder
// must find exactly the frames, and the error, that Dialect.Next finds in
// the whole stream at once, and must never panic.
//
//	go test ./wire -run '^$' -fuzz FuzzFrameDecoder -fuzztime 60s -fuzzminimizetime 2s
//
// (Minimizing a new input of a few kilobytes, by default for up to 60 s,
// would otherwise take most of a short run.)
func FuzzFrameDecoder(f *testing.F) {
	for _, td := range testDialects {
		stream := testStream(f, td.d)
		f.Add(stream, []byte{0})
		f.Add(stream, []byte{1, 200, 3})
		f.Add(stream[:len(stream)-3], []byte{255})
	}
	f.Add([]byte{0, 0}, []byte{0})
	f.Add([]byte("00a1"), []byte{1})
	f.Add([]byte{0xFF, 0xFF, 1}, []byte{})
	f.Fuzz(func(t *testing.T, stream, sizes []byte) {
		for _, td := range testDialects {
			checkChunked(t, td.d, stream, sizes)
			checkChunked(t, Dialect{Header: td.d.Header, MaxFrame: 16}, stream, sizes)
		}
	})
}

func BenchmarkFrameReader(b *testing.B) {
	stream := testStream(b, DefaultDialect())
	frames, _ := wholeFrames(DefaultDialect(), stream)
	r := bytes.NewReader(stream)
	fr := NewFrameReader(r, DefaultDialect(), 0)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(stream)
		fr.Reset(r, DefaultDialect())
		for range frames {
			if _, err := fr.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestFrameReaderStarted: Started tells a frame begun (bytes of it read,
// in the buffer or in the decoder) from a clean boundary.
func TestFrameReaderStarted(t *testing.T) {
	d := DefaultDialect()
	stream := testStream(t, d)
	want, _ := wholeFrames(d, stream)
	first := len(want[0]) + 2 // the 2-byte length header
	for _, tc := range []struct {
		name  string
		bytes int
		begun bool
	}{
		{"one whole frame", first, false},
		{"and one byte of the next", first + 1, true},
		{"and the next's header and a byte", first + 3, true},
	} {
		pr, pw := io.Pipe()
		go func() { _, _ = pw.Write(stream[:tc.bytes]); pw.Close() }()
		fr := NewFrameReader(pr, d, 0)
		if fr.Started() {
			t.Fatalf("%s: started before reading", tc.name)
		}
		if _, err := fr.Next(); err != nil {
			t.Fatal(err)
		}
		if got := fr.Started(); got != tc.begun {
			t.Errorf("%s: Started %v, want %v", tc.name, got, tc.begun)
		}
		if tc.begun {
			if _, err := fr.Next(); err == nil || fr.Started() != true {
				t.Errorf("%s: a half frame then EOF: %v, started %v", tc.name, err, fr.Started())
			}
		}
	}
}

// TestFrameReaderKeepsNoSpentFrame: once the reader goes back to the
// connection for more, the bytes of the frames it returned are gone from
// its buffer, which it keeps for the connection's life: a register's card
// data is not held while the connection waits.
func TestFrameReaderKeepsNoSpentFrame(t *testing.T) {
	d := DefaultDialect()
	frame, err := d.AppendFrame(nil, []byte("0200"+testPAN))
	if err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(bytes.NewReader(frame), d, 0)
	if p, err := fr.Next(); err != nil || !bytes.Contains(p, []byte(testPAN)) {
		t.Fatalf("Next: %q %v", p, err)
	}
	if _, err := fr.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("second Next: %v, want EOF", err)
	}
	if bytes.Contains(fr.buf, []byte(testPAN)) {
		t.Fatal("the read buffer still holds the spent frame's card number")
	}
}
