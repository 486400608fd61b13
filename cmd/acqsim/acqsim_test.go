package main

import (
	"github.com/tillgate/tillgate/internal/cli"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/wire"
)

func purchase(stan string, amount int64) *wire.Message {
	return &wire.Message{
		MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: amount, HasAmount: true,
		TransmissionTime: "0102030405", STAN: stan, TerminalID: "TERM0001", Currency: "978",
	}
}

// served is an `acqsim serve` running in the test on free ports.
type served struct {
	iso, admin string
	stop       func() error // stops it and returns what Run returned
}

// startServe runs `serve` on dir, with the extra flags, until the test
// ends or stop is called.
func startServe(t *testing.T, dir string, extra ...string) *served {
	t.Helper()
	type addrs struct{ iso, admin string }
	ready := make(chan addrs, 1)
	cmd := &serveCommand{ready: func(iso, admin string) { ready <- addrs{iso, admin} }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		args := []string{"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", dir, "--latency", "0", "--log-level", "error"}
		done <- cmd.Run(ctx, append(args, extra...))
	}()
	var stopped error
	var once sync.Once
	s := &served{stop: func() error {
		once.Do(func() { cancel(); stopped = <-done })
		return stopped
	}}
	t.Cleanup(func() { s.stop() })
	select {
	case a := <-ready:
		s.iso, s.admin = a.iso, a.admin
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return s
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestServeAndTotals runs `serve`, drives it over ISO 8583, reads the
// admin API, stops it, then prints `totals` from the same directory.
func TestServeAndTotals(t *testing.T) {
	dir := t.TempDir()
	a := startServe(t, dir)

	link, err := acquirer.Open(acquirer.Config{Addr: a.iso, Dialect: wire.DefaultDialect(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	for i, amount := range []int64{1000, 2000, 1051} {
		m := purchase(fmt.Sprintf("%06d", i+1), amount)
		if _, err := link.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	rev := &wire.Message{MTI: "0400", ProcCode: "000000", Amount: 2000, HasAmount: true, TransmissionTime: "0102030405",
		STAN: "000009", TerminalID: "TERM0001", Currency: "978",
		OriginalData: "0200" + "000002" + "0102030405" + strings.Repeat("0", 22)}
	if r, err := link.Send(context.Background(), rev); err != nil || r.ResponseCode != "00" {
		t.Fatalf("reversal: %v %v", r, err)
	}

	var health map[string]string
	getJSON(t, "http://"+a.admin+"/healthz", &health)
	if health["status"] != "ok" {
		t.Errorf("healthz %v", health)
	}
	var tot sim.Totals
	getJSON(t, "http://"+a.admin+"/totals", &tot)
	want := map[string]sim.Sum{"purchase": {Count: 1, Amount: 1000}}
	if !reflect.DeepEqual(tot.Net, want) {
		t.Errorf("/totals %v, want %v", tot.Net, want)
	}
	var days map[string]sim.DayTotals
	getJSON(t, "http://"+a.admin+"/totals/days", &days)
	if len(days) != 1 {
		t.Fatalf("/totals/days %v, want one day", days)
	}
	var day string
	for day = range days {
	}
	wantDay := sim.DayTotals{
		Approved: map[string]sim.Sum{"purchase": {Count: 2, Amount: 3000}},
		Reversed: map[string]sim.Sum{"purchase": {Count: 1, Amount: 2000}},
		Net:      map[string]sim.Sum{"purchase": {Count: 1, Amount: 1000}},
	}
	if !reflect.DeepEqual(days[day], wantDay) {
		t.Errorf("/totals/days %+v, want %+v", days[day], wantDay)
	}

	var ledger struct{ Records []sim.LedgerRecord }
	getJSON(t, "http://"+a.admin+"/ledger", &ledger)
	if n := len(ledger.Records); n != 4 {
		t.Errorf("/ledger has %d records, want 4 (3 purchases, one a decline, and the reversal)", n)
	}

	// The running server holds the ledger: totals gives up after a second.
	if err := (&totalsCommand{out: io.Discard}).Run(context.Background(), []string{"--data", dir}); err == nil {
		t.Error("totals opened the ledger of a running server")
	}

	if err := a.stop(); err != nil {
		t.Fatalf("serve stopped with %v", err)
	}

	var out bytes.Buffer
	if err := (&totalsCommand{out: &out}).Run(context.Background(), []string{"--data", dir}); err != nil {
		t.Fatal(err)
	}
	wantOut := strings.Join([]string{
		"DAY       KIND      APPROVED  AMOUNT  REVERSED  AMOUNT  NET  AMOUNT",
		day + "  purchase  2         3000    1         2000    1    1000",
		"all       purchase                                      1    1000",
		""}, "\n")
	if out.String() != wantOut {
		t.Errorf("totals printed\n%s\nwant\n%s", out.String(), wantOut)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		cmd  cli.Command
		args []string
	}{
		{&serveCommand{}, nil},
		{&totalsCommand{}, nil},
		{&totalsCommand{}, []string{"--data", "x", "extra"}},
		{&faultCommand{}, []string{"extra"}},
	} {
		if err := tt.cmd.Run(context.Background(), tt.args); !errors.Is(err, errUsage) {
			t.Errorf("%T %v: %v, want usage", tt.cmd, tt.args, err)
		}
	}
	if err := (&totalsCommand{}).Run(context.Background(), []string{"--data", t.TempDir()}); err == nil {
		t.Error("totals of an empty directory succeeded")
	}
	if err := (&serveCommand{}).Run(context.Background(), []string{"--data", t.TempDir(), "--latency", "fast"}); err == nil {
		t.Error("bad latency accepted")
	}
	if err := (&serveCommand{}).Run(context.Background(), []string{"--data", t.TempDir(), "--strict", "--echo-every", "-1s"}); err == nil {
		t.Error("negative --echo-every accepted")
	}
}
