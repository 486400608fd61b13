package chaos

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tillgate/tillgate/bench"
	"github.com/tillgate/tillgate/internal/faultnet"
	"github.com/tillgate/tillgate/loadtest"
)

// scenario is one test's run: a bench chaos scenario and its load.
type scenario struct {
	name      string // bench.ChaosScenarios
	registers int
	hold      time.Duration // 0: bench.DefaultChaosHold
	flapping  time.Duration // 0: bench.DefaultChaosFlapping
}

// chaosMix is the default mix without echoes: every answer then comes
// from the authorization path, so a register's first answer after a fault
// says that it is served again (any node answers an echo).
var chaosMix = loadtest.Mix{Purchase: 82, Refund: 5, PreAuth: 5, Completion: 5, Reversal: 3}

// Raft timings of the process tests: a loaded 2-core machine looks like a
// dead leader at the node's default (500 ms).
const raftTimeout = time.Second

// run runs s under load and fails the test unless the run passed every
// check with 0 violations and every register resumed after every fault.
// It logs the figures, and with CHAOS_OUT set writes the reports to
// CHAOS_OUT/<name> and the figures as a row of CHAOS_OUT/table.md.
func run(t *testing.T, s scenario) *bench.Result {
	t.Helper()
	if err := faultnet.Available(); err != nil {
		t.Skipf("chaos %s skipped: %v", s.name, err)
	}
	if testing.Short() {
		t.Skip("chaos: starts tillgate and acqsim processes")
	}
	dir := workDir(t)
	out := outDir(dir, s.name)
	// Ctrl-C ends the run through bench, which heals every cut and
	// unmounts every disk on its way out.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	res, err := bench.RunLocal(ctx, bench.LocalOptions{
		Load: bench.Options{Registers: s.registers, Think: 100 * time.Millisecond, Mix: chaosMix, OutDir: out,
			Progress: &lineLogger{t: t}, Seed: uint64(time.Now().UnixNano()),
			Logger: slog.New(slog.NewTextHandler(&lineLogger{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))},
		Dir: filepath.Join(dir, "work"), Chaos: s.name, ChaosHold: s.hold, ChaosFlapping: s.flapping, RaftTimeout: raftTimeout,
		// The test removes the dir itself, once it has the logs.
		NodeLogLevel: os.Getenv("CHAOS_NODE_LOG"), KeepDir: true,
	})
	if err != nil {
		t.Fatalf("chaos %s: %v (work dir %s)", s.name, err, dir)
	}
	t.Logf("%s", figures(s.name, res))
	appendTable(t, s.name, res)
	keepLogs(t, filepath.Join(dir, "work"), out)
	verify(t, res, dir)
	return res
}

// keepLogs copies the processes' logs beside the reports: an odd figure in
// a passing run (the work dir goes) can still be looked into.
func keepLogs(t *testing.T, work, out string) {
	logs, _ := filepath.Glob(filepath.Join(work, "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err == nil {
			err = os.WriteFile(filepath.Join(out, filepath.Base(l)), b, 0o644)
		}
		if err != nil {
			t.Logf("keep %s: %v", l, err)
		}
	}
}

// verify fails the test on a failed check, a violation, no fault, or a
// register that never resumed; the work dir is then kept.
func verify(t *testing.T, res *bench.Result, dir string) {
	t.Helper()
	ok := res.Pass && res.Verdict != nil && res.Verdict.Violations == 0 && len(res.Injected) > 0
	for _, r := range res.Resume {
		if r.Resumed < r.Registers {
			t.Errorf("%s on %s: %d of %d registers resumed", r.Kind, r.Target, r.Resumed, r.Registers)
			ok = false
		}
	}
	if !ok {
		t.Errorf("chaos run failed (pass %v, %d faults injected, verdict %+v); data and logs kept in %s", res.Pass, len(res.Injected), res.Verdict, dir)
		return
	}
	if os.Getenv("CHAOS_KEEP") != "" {
		t.Logf("data and logs kept in %s", dir)
		return
	}
	os.RemoveAll(dir)
}

// workDir is a directory the nodes' users can reach (t.TempDir's parents
// are private to root).
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tillgate-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// outDir is CHAOS_OUT/name, or a dir beside the work dir: kept with it
// when the run fails (the history is what to look at).
func outDir(dir, name string) string {
	if base := os.Getenv("CHAOS_OUT"); base != "" {
		return filepath.Join(base, name)
	}
	return filepath.Join(dir, "report")
}

// figures is the run's line of the suite's table: faults, registers
// resumed, time to resume from the fault and from the election (p50 / p99
// / max over every register after every fault of the run), elections,
// violations.
func figures(name string, res *bench.Result) string {
	resumed, registers, elections := 0, 0, 0
	for _, r := range res.Resume {
		resumed, registers, elections = resumed+r.Resumed, registers+r.Registers, elections+r.Elections
	}
	fromFault, fromElection := bench.Pooled(res.Resume)
	violations := -1
	if res.Verdict != nil {
		violations = res.Verdict.Violations
	}
	return fmt.Sprintf("| %s | %d | %d/%d | %s | %d | %s | %d | %s |", name, len(res.Injected), resumed, registers,
		spread(fromFault), elections, spread(fromElection), violations, map[bool]string{true: "PASS", false: "FAIL"}[res.Pass])
}

func spread(s bench.Spread) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f s", s.P50.Seconds(), s.P99.Seconds(), s.Max.Seconds())
}

// tableMu serializes appends to the table (tests run one at a time, but
// cheaply safe).
var tableMu sync.Mutex

// appendTable adds the run's row to CHAOS_OUT/table.md.
func appendTable(t *testing.T, name string, res *bench.Result) {
	base := os.Getenv("CHAOS_OUT")
	if base == "" {
		return
	}
	tableMu.Lock()
	defer tableMu.Unlock()
	f, err := os.OpenFile(filepath.Join(base, "table.md"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("table: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, figures(name, res))
}

// lineLogger sends bench's progress and log to the test log, a line at a
// time.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.t.Log(strings.TrimRight(line, "\n"))
	}
}
