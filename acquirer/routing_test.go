package acquirer

import (
	"strings"
	"testing"
)

func TestRouterLookup(t *testing.T) {
	r, err := NewRouter([]Route{
		{Low: "4", High: "4", Acquirer: "visa"},
		{Low: "510000", High: "559999", Acquirer: "mc"},
		{Low: "411111", High: "411111", Acquirer: "test-bank"},
		{Low: "40", High: "49", Acquirer: "shadowed"}, // shorter than "411111", longer than "4"
	}, "default")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ pan, want string }{
		{"4111111111111111", "test-bank"}, // longest prefix wins
		{"4000000000000002", "shadowed"},  // 2-digit range beats 1-digit
		{"5100000000000008", "mc"},
		{"5599990000000000", "mc"},
		{"5600000000000000", "default"},
		{"3700000000000002", "default"},
		{"4", "visa"}, // a 1-digit prefix matches a short string
		{"41", "shadowed"},
		{"", "default"},
	}
	for _, tt := range tests {
		if got := r.Lookup(tt.pan); got != tt.want {
			t.Errorf("Lookup(%q) = %q, want %q", tt.pan, got, tt.want)
		}
	}
	if r.Default() != "default" {
		t.Errorf("Default() = %q", r.Default())
	}
}

func TestRouterEqualLengthFirstWins(t *testing.T) {
	r, err := NewRouter([]Route{
		{Low: "400000", High: "499999", Acquirer: "first"},
		{Low: "410000", High: "419999", Acquirer: "second"},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Lookup("4111111111111111"); got != "first" {
		t.Errorf("got %q, want first", got)
	}
}

func TestRouterValidate(t *testing.T) {
	tests := []struct {
		r    Route
		want string
	}{
		{Route{Low: "4", High: "4"}, "no acquirer"},
		{Route{Low: "", High: "", Acquirer: "a"}, "1-11 digits"},
		{Route{Low: "4x", High: "49", Acquirer: "a"}, "1-11 digits"},
		{Route{Low: "123456789012", High: "123456789012", Acquirer: "a"}, "1-11 digits"},
		{Route{Low: "40", High: "4", Acquirer: "a"}, "different lengths"},
		{Route{Low: "49", High: "40", Acquirer: "a"}, "low above high"},
	}
	for _, tt := range tests {
		_, err := NewRouter([]Route{tt.r}, "d")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.r, err, tt.want)
		}
	}
}

func TestNilRouter(t *testing.T) {
	var r *Router
	if r.Lookup("4111111111111111") != "" || r.Default() != "" {
		t.Error("nil router must route to \"\"")
	}
}
