package simulation

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain runs the long tier instead of the tests when SIM_TIER=long:
// `make sim` builds this test binary and runs it so, and the summary is
// then the binary's last line.
func TestMain(m *testing.M) {
	if os.Getenv(EnvTier) == TierLong {
		os.Exit(runLongTier())
	}
	os.Exit(m.Run())
}

func runLongTier() int {
	cfg, err := ConfigFromEnv(TierLong)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Ctrl-C ends the seed under way early (its faults undone, its
	// directory removed) instead of leaving a cluster's files behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if sum := RunSeeds(ctx, cfg, os.Stdout); sum.Violations > 0 || len(sum.Failed) > 0 {
		return 1
	}
	return 0
}

// TestSimulation is the short tier: a few short seeds, part of make test.
func TestSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster per seed")
	}
	cfg, err := ConfigFromEnv(TierShort)
	if err != nil {
		t.Fatal(err)
	}
	var out lineLogger
	out.t = t
	sum := RunSeeds(t.Context(), cfg, &out)
	if sum.Violations > 0 || len(sum.Failed) > 0 {
		t.Fatalf("%v; failed runs: %v (details above)", sum, sum.Failed)
	}
}

// lineLogger writes whole lines to the test log.
type lineLogger struct {
	t   *testing.T
	buf bytes.Buffer
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.t.Log(line[:len(line)-1])
	}
}
