package wire

import (
	"testing"

	"github.com/moov-io/iso8583"
)

// sampleNamed is the sample message called name (samples_test.go).
func sampleNamed(b testing.TB, name string) *Message {
	b.Helper()
	for _, s := range samples() {
		if s.name == name {
			return s.m
		}
	}
	b.Fatalf("no sample %s", name)
	return nil
}

func BenchmarkUnpack0200(b *testing.B) {
	c := NewCodec(DefaultDialect())
	p := mustPack(b, c, sampleNamed(b, "0200_purchase"))
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := c.Unpack(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPack0210(b *testing.B) {
	c := NewCodec(DefaultDialect())
	m := sampleNamed(b, "0210_purchase")
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = c.PackFrame(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	c := NewCodec(DefaultDialect())
	var stream []byte
	for _, s := range samples() {
		var err error
		if stream, err = c.PackFrame(stream, s.m); err != nil {
			b.Fatal(err)
		}
	}
	d := c.Dialect()
	frames := len(samples())
	b.ReportAllocs()
	for b.Loop() {
		for buf := stream; len(buf) > 0; {
			_, n, err := d.Next(buf)
			if err != nil || n == 0 {
				b.Fatal("bad stream")
			}
			buf = buf[n:]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
}

// BenchmarkMoovUnpack0200 is the same payload through moov's
// iso8583.Message with the same spec, for comparison.
func BenchmarkMoovUnpack0200(b *testing.B) {
	c := NewCodec(DefaultDialect())
	p := mustPack(b, c, sampleNamed(b, "0200_purchase"))
	b.ReportAllocs()
	for b.Loop() {
		m := iso8583.NewMessage(c.ds.spec)
		if err := m.Unpack(p); err != nil {
			b.Fatal(err)
		}
	}
}
