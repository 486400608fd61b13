package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/wire"
)

// TestSettlement exports the same window three ways (admin API, the
// command against the API, the command against the stopped ledger) and
// gets the same bytes.
func TestSettlement(t *testing.T) {
	dir := t.TempDir()
	a := startServe(t, dir)
	link, err := acquirer.Open(acquirer.Config{Addr: a.iso, Dialect: wire.DefaultDialect(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	for _, m := range []*wire.Message{purchase("000001", 1000), purchase("000002", 1051), purchase("000003", 400)} {
		if _, err := link.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	rev := &wire.Message{MTI: "0400", ProcCode: "000000", Amount: 400, HasAmount: true, TransmissionTime: "0102030405",
		STAN: "000009", TerminalID: "TERM0001", Currency: "978", OriginalData: "0200" + "000003" + "0102030405" + strings.Repeat("0", 22)}
	if _, err := link.Send(context.Background(), rev); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC()
	from, to := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)
	resp, err := http.Get("http://" + a.admin + "/settlement?from=" + from + "&to=" + to)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("GET /settlement: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(string(api)), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], ",000001,") || !strings.Contains(lines[2], ",400,reversed,") ||
		!strings.HasPrefix(lines[3], "TRAILER,2,1000,400,1000,") {
		t.Errorf("settlement:\n%s", api)
	}
	if resp, err := http.Get("http://" + a.admin + "/settlement?day=2026-03-14"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad day: %v %v, want 400", resp.Status, err)
	}

	out := filepath.Join(t.TempDir(), "acq.csv")
	window := []string{"--from", from, "--to", to}
	if err := (&settlementCommand{}).Run(context.Background(), append([]string{"--admin", a.admin, "-o", out}, window...)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, api) {
		t.Errorf("settlement --admin -o wrote\n%s\nwant\n%s", got, api)
	}
	if err := a.stop(); err != nil {
		t.Fatalf("serve stopped with %v", err)
	}
	var buf bytes.Buffer
	if err := (&settlementCommand{out: &buf}).Run(context.Background(), append([]string{"--data", dir}, window...)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), api) {
		t.Errorf("settlement --data wrote\n%s\nwant\n%s", buf.Bytes(), api)
	}
}

func TestParseWindow(t *testing.T) {
	f, to, err := parseWindow("20260314", "", "")
	if err != nil || f != time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC) || to.Sub(f) != 24*time.Hour {
		t.Errorf("day: %v %v %v", f, to, err)
	}
	for _, bad := range [][3]string{
		{"", "", ""}, {"20260314", "2026-03-14T00:00:00Z", ""}, {"2026-03-14", "", ""},
		{"", "2026-03-14T00:00:00Z", ""}, {"", "2026-03-14T01:00:00Z", "2026-03-14T00:00:00Z"}, {"", "x", "y"},
	} {
		if _, _, err := parseWindow(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("parseWindow%q accepted", bad)
		}
	}
	for _, args := range [][]string{nil, {"--admin", "x", "--data", "y", "--day", "20260314"}, {"--data", "y"}, {"--data", "y", "--day", "20260314", "extra"}} {
		if err := (&settlementCommand{}).Run(context.Background(), args); !errors.Is(err, errUsage) {
			t.Errorf("settlement %q: %v, want usage", args, err)
		}
	}
}
