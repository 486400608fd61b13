package businessday

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tillgate/tillgate/store"
)

// A rendering that differs from the checksum the log records is never
// put in place: it is counted and logged, and the file stays absent.
func TestFileNotKeptOnMismatch(t *testing.T) {
	s, d := settledDay(t, 20)
	bogus := store.DayFile{Acquirer: "acq", CSVSHA256: strings.Repeat("ab", 32), JSONSHA256: strings.Repeat("cd", 32), Rows: 20}
	if r := s.ApplyBatch([]uint64{s.AppliedIndex() + 1}, [][]byte{store.DayFileCmd(d.Day, bogus)})[0].(store.Result); r.Err != nil {
		t.Fatal(r.Err)
	}
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	svc := New(Options{Config: Config{SettlementDir: dir, Poll: time.Second}, State: s, Acquirers: []string{"acq"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg})
	svc.writeMissingFiles(context.Background(), d.Day)
	if got := counter(t, svc.metrics.settlementErrors); got != 1 {
		t.Fatalf("settlement errors %v, want 1", got)
	}
	if _, err := os.Stat(filepath.Join(dir, d.Day, "acq.csv")); !os.IsNotExist(err) {
		t.Fatalf("a file that differs from the log was put in place (%v)", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, d.Day, renderPrefix+"*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// counter is the value of c.
func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
