package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

type fake struct{ err error }

func (f fake) Run(context.Context, []string) error { return f.err }
func (f fake) Usage() string                       { return "usage of x\n" }

func TestMainExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		err  error
		code int
		out  string
	}{
		{nil, nil, 2, "PROG USAGE"},
		{[]string{"-h"}, nil, 0, "PROG USAGE"},
		{[]string{"nope"}, nil, 2, `p: unknown command "nope"`},
		{[]string{"x"}, nil, 0, ""},
		{[]string{"x"}, flag.ErrHelp, 0, "usage of x"},
		{[]string{"x"}, fmt.Errorf("--day: %w", ErrUsage), 2, "p x: --day: usage"},
		{[]string{"x"}, errors.New("node down"), 1, "p x: node down"},
	}
	for _, c := range cases {
		var stderr bytes.Buffer
		code := Main(context.Background(), "p", "PROG USAGE\n", map[string]Command{"x": fake{c.err}}, c.args, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.out) {
			t.Errorf("%q with %v: exit %d, stderr %q; want %d containing %q", c.args, c.err, code, stderr.String(), c.code, c.out)
		}
	}
}
