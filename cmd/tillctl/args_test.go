package main

import (
	"slices"
	"testing"
)

func TestCommandFirst(t *testing.T) {
	cmds := map[string]int{"status": 0, "tx": 0}
	cases := []struct{ in, want []string }{
		{[]string{"--endpoints", "a,b", "status"}, []string{"status", "--endpoints", "a,b"}},
		{[]string{"tx", "search", "--terminal", "T1"}, []string{"tx", "search", "--terminal", "T1"}},
		{[]string{"-o", "json", "tx", "show", "X"}, []string{"tx", "-o", "json", "show", "X"}},
		{[]string{"--bogus"}, []string{"--bogus"}},
	}
	for _, c := range cases {
		if got := commandFirst(c.in, cmds); !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}
