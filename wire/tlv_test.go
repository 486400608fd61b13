package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseTLVs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want TLVs
		ok   bool
	}{
		{"empty", "", nil, true},
		{"one", "AN01310.0.0.1:8583", TLVs{{"AN", "10.0.0.1:8583"}}, true},
		{"several with unknown", "ND002n1X9003abcTM0017", TLVs{{"ND", "n1"}, {"X9", "abc"}, {"TM", "7"}}, true},
		{"empty value", "SI000", TLVs{{"SI", ""}}, true},
		{"truncated header", "AN01", nil, false},
		{"short tag only", "A", nil, false},
		{"non-digit length", "AN0x3abc", nil, false},
		{"signed length", "AN+03abc", nil, false},
		{"value past end", "AN005abc", nil, false},
		{"trailing junk", "AN003abcZ", nil, false},
		{"lower-case tag", "an003abc", nil, false},
		{"control char in value", "AN003a\x01c", nil, false},
		{"non-ASCII value", "AN003a\xffc", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTLVs(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseTLVs(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseTLVs(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if tt.ok && got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestTLVsGetSet(t *testing.T) {
	var tl TLVs
	if _, ok := tl.Get(TagNodeID); ok {
		t.Fatal("Get on empty found a value")
	}
	tl.Set(TagNodeID, "n1")
	tl.Set(TagTerm, "3")
	tl.Set(TagNodeID, "n2")
	want := TLVs{{TagNodeID, "n2"}, {TagTerm, "3"}}
	if !reflect.DeepEqual(tl, want) {
		t.Fatalf("after Set: %#v, want %#v", tl, want)
	}
	if v, ok := tl.Get(TagTerm); !ok || v != "3" {
		t.Fatalf("Get(TM) = %q %v", v, ok)
	}
	if got := tl.String(); got != "ND002n2TM0013" {
		t.Fatalf("String() = %q", got)
	}
	long := TLVs{{"ZZ", strings.Repeat("y", 999)}}
	back, err := ParseTLVs(long.String())
	if err != nil || !reflect.DeepEqual(back, long) {
		t.Fatalf("999-character value: %v", err)
	}
}
