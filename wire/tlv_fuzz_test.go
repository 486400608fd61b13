package wire

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParseTLVs: DE48 never panics the parser, every refusal wraps
// ErrMalformed, and what parses formats back to the same bytes (String and
// the checked appendTLVs agree) and parses to the same entries.
//
//	go test ./wire -run '^$' -fuzz FuzzParseTLVs -fuzztime 60s
func FuzzParseTLVs(f *testing.F) {
	for _, s := range []string{
		"", "AN01310.0.0.1:8583", "ND002n1X9003abcTM0017", "SI000", "NA0011", "NP0011AN014127.0.0.1:8583TM0023",
		"AQ00412345", "CV003123", "AN01", "AN0x3abc", "AN+03abc", "AN005abc", "AN003abcZ", "an003abc", "AN003a\x01c",
		"AN999", "AN003a\xffc",
	} {
		f.Add(s)
	}
	for _, s := range samples() {
		if len(s.m.Private) > 0 {
			f.Add(s.m.Private.String())
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTLVs(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseTLVs(%q): error %v does not wrap ErrMalformed", s, err)
			}
			return
		}
		if enc := got.String(); enc != s {
			t.Fatalf("String() = %q, want %q", enc, s)
		}
		b, err := appendTLVs(nil, got)
		if err != nil {
			t.Fatalf("appendTLVs refuses what ParseTLVs accepted (%q): %v", s, err)
		}
		if string(b) != s {
			t.Fatalf("appendTLVs = %q, want %q", b, s)
		}
		again, err := ParseTLVs(string(b))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("reparse = %#v, %v; want %#v", again, err, got)
		}
	})
}
