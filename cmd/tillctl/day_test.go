package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/node/adminapi"
)

// waitSettled polls until day is settled with its file recorded.
func waitSettled(t *testing.T, c *adminapi.Client, day string) adminapi.Day {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := c.Day(context.Background(), day)
		if err == nil && d.Status == "settled" && len(d.Files) == 1 {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("day %s not settled with its file: %+v %v", day, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acquirerFile writes the simulator's export of [from, to) to a file.
func acquirerFile(t *testing.T, s *sim.Sim, from, to time.Time) string {
	t.Helper()
	rows, err := s.Settlement(from, to)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "acq.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := sim.WriteSettlementCSV(f, rows, from, to); err != nil {
		t.Fatal(err)
	}
	return path
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestDayCloseWithTillctl runs a day's close as an operator would: list,
// cutover (and a retried one), show, the file in both formats checked
// against the log, and the reconciliation with the acquirer's export,
// once with a file missing the day's rows (exit 1) and once as exported.
func TestDayCloseWithTillctl(t *testing.T) {
	cl, acq := startClusterSim(t, 1)
	ep := cl.Configs[0].AdminAddr
	g := []string{"--endpoints", ep, "--token", "tok"}
	day := func(args ...string) (string, string, int) {
		return tillctl(append(append([]string{"day"}, args...), g...)...)
	}
	for i, amt := range []int64{1250, 700} {
		if rc := purchase(t, cl.Configs[0].RegisterAddr, "TERM0001", i+1, amt); rc != "00" {
			t.Fatalf("purchase: %s", rc)
		}
	}
	c := adminapi.NewClient(ep)
	c.Token = "tok"
	days, err := c.Days(context.Background())
	if err != nil || len(days.Days) != 1 {
		t.Fatalf("days: %+v %v", days, err)
	}
	d := days.Open

	out, errs, code := day("list")
	want := columns([][]string{{"DAY", "STATUS", "OPENED", "CLOSED", "BY", "FILES", "RECONCILED"},
		{d, "open", days.Days[0].OpenedAt.Format(time.RFC3339), "-", "-", "0", "-"}})
	if code != 0 || out != want {
		t.Fatalf("day list: exit %d %s\n%s\nwant\n%s", code, errs, out, want)
	}

	out, errs, code = day("cutover")
	if code != 0 || !strings.HasPrefix(out, "closed "+d+", opened ") {
		t.Fatalf("day cutover: exit %d %s\n%s", code, errs, out)
	}
	// A retry naming the day it closed changes nothing and says why.
	_, errs, code = day("cutover", "--day", d)
	if code != 1 || !strings.Contains(errs, "409") || !strings.Contains(errs, "was cut over already") {
		t.Fatalf("second cutover: exit %d, stderr %q", code, errs)
	}

	rec := waitSettled(t, c, d)
	f := rec.Files[0]
	out, errs, code = day("show", d)
	for _, s := range []string{"status         settled\n", "closed by      operator\n", f.CSVSHA256, f.JSONSHA256, "acqsim settlement --admin ADDR --from "} {
		if code != 0 || !strings.Contains(out, s) {
			t.Fatalf("day show: exit %d %s; want %q in\n%s", code, errs, s, out)
		}
	}

	path := filepath.Join(t.TempDir(), "ours.csv")
	out, errs, code = day("file", d, "--acquirer", f.Acquirer, "--out", path)
	b, err := os.ReadFile(path)
	if code != 0 || err != nil || sha256Hex(b) != f.CSVSHA256 || out != fmt.Sprintf("wrote %s (%d bytes)\nsha256 %s (matches the log)\n", path, len(b), f.CSVSHA256) {
		t.Fatalf("day file: exit %d %s %v\n%s", code, errs, err, out)
	}
	t.Chdir(t.TempDir()) // the default name is in the working directory
	out, errs, code = day("file", d, "--acquirer", f.Acquirer, "--format", "json", "-o", "json")
	var got fetchedFile
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.SHA256 != f.JSONSHA256 || got.Path != d+"-"+f.Acquirer+".json" {
		t.Fatalf("day file --format json: exit %d %s\n%s", code, errs, out)
	}
	if b, err := os.ReadFile(got.Path); err != nil || sha256Hex(b) != f.JSONSHA256 {
		t.Fatalf("the JSON file on disk: %v", err)
	}

	// The acquirer's export of a window before the day: our rows are
	// missing there.
	empty := acquirerFile(t, acq, rec.OpenedAt.Add(-2*time.Hour), rec.OpenedAt.Add(-time.Hour))
	out, errs, code = day("reconcile", d, "--acquirer", f.Acquirer, "--file", empty)
	if code != 1 || !strings.HasPrefix(out, "NOT RECONCILED") || !strings.Contains(out, "missing_at_acquirer") || !strings.Contains(errs, "not reconciled") {
		t.Fatalf("reconcile with an empty file: exit %d, stderr %q\n%s", code, errs, out)
	}
	good := acquirerFile(t, acq, rec.OpenedAt.Add(-time.Minute), *rec.ClosedAt)
	out, errs, code = day("reconcile", d, "--acquirer", f.Acquirer, "--file", good)
	if code != 0 || !strings.HasPrefix(out, "RECONCILED") {
		t.Fatalf("reconcile: exit %d %s\n%s", code, errs, out)
	}
	out, errs, code = day("reconcile", d, "--acquirer", f.Acquirer, "--file", good, "-o", "json")
	var rep struct {
		Reconciled bool `json:"reconciled"`
		Matched    int  `json:"matched"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.Reconciled || rep.Matched != 2 {
		t.Fatalf("reconcile -o json: exit %d %s\n%s", code, errs, out)
	}

	out, _, code = day("list")
	if code != 0 || !strings.Contains(out, d+"  settled  ") || !strings.Contains(out, "  operator  1      "+f.Acquirer+"=yes\n") {
		t.Fatalf("day list after the close:\n%s", out)
	}
}

// TestDayFileChecksumMismatch: bytes that do not hash to the checksum the
// log records are an error, and nothing is written.
func TestDayFileChecksumMismatch(t *testing.T) {
	body := []byte("seq,rrn\n")
	for _, tc := range []struct{ name, recorded, served string }{
		{"altered in transit", strings.Repeat("0", 64), strings.Repeat("0", 64)},
		{"node disagrees with the record", strings.Repeat("0", 64), sha256Hex(body)},
	} {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /days/20260314", func(w http.ResponseWriter, _ *http.Request) {
			json.NewEncoder(w).Encode(adminapi.Day{Day: "20260314", Status: "settled",
				Files: []adminapi.DayFile{{Acquirer: "acq1", CSVSHA256: tc.recorded}}})
		})
		mux.HandleFunc("GET /days/20260314/files/acq1.csv", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set(adminapi.HeaderSHA256, tc.served)
			w.Write(body)
		})
		srv := httptest.NewServer(mux)
		path := filepath.Join(t.TempDir(), "f.csv")
		_, errs, code := tillctl("day", "file", "20260314", "--acquirer", "acq1", "--out", path, "--endpoints", srv.URL)
		srv.Close()
		if _, err := os.Stat(path); code != 1 || !strings.Contains(errs, "checksum mismatch") || err == nil {
			t.Errorf("%s: exit %d, stderr %q, file written: %v", tc.name, code, errs, err == nil)
		}
	}
}

func TestBatchListAndClose(t *testing.T) {
	cl := startCluster(t, 1)
	g := []string{"--endpoints", cl.Configs[0].AdminAddr, "--token", "tok"}
	batch := func(args ...string) (string, string, int) {
		return tillctl(append(append([]string{"batch"}, args...), g...)...)
	}
	if rc := purchase(t, cl.Configs[0].RegisterAddr, "TERM0001", 1, 1250); rc != "00" {
		t.Fatalf("purchase: %s", rc)
	}
	header := []string{"BATCH", "STATUS", "DEBITS", "CREDITS", "NET", "REGISTER NET", "BALANCED", "UPLOADS", "DIFFERS", "CLOSED"}
	out, errs, code := batch("list", "--terminal", "TERM0001")
	want := columns([][]string{header, {"1", "open", "1", "0", "12.50", "-", "false", "0", "-", "-"}})
	if code != 0 || out != want {
		t.Fatalf("batch list: exit %d %s\n%s\nwant\n%s", code, errs, out, want)
	}
	out, errs, code = batch("close", "--terminal", "TERM0001", "--batch", "1")
	if code != 0 || !strings.Contains(out, "closed_by_operator") || !strings.Contains(out, "batch 2 is open") {
		t.Fatalf("batch close: exit %d %s\n%s", code, errs, out)
	}
	// Repeated, it refuses: batch 1 is not the open one any more.
	if _, errs, code = batch("close", "--terminal", "TERM0001", "--batch", "1"); code != 1 || !strings.Contains(errs, "409") {
		t.Fatalf("second batch close: exit %d, stderr %q", code, errs)
	}
	out, _, code = batch("list", "--terminal", "TERM0001", "-o", "json")
	var bs adminapi.Batches
	if code != 0 || json.Unmarshal([]byte(out), &bs) != nil || len(bs.Batches) != 2 ||
		bs.Batches[0].Status != "closed_by_operator" || bs.Batches[0].Ours.NetAmount != 1250 || bs.Batches[1].Status != "open" {
		t.Fatalf("batch list -o json: exit %d\n%s", code, out)
	}
}

func TestDiffering(t *testing.T) {
	ours := adminapi.BatchTotals{DebitsCount: 2, DebitsAmount: 450, NetAmount: 450}
	reg := ours
	reg.DebitsAmount, reg.NetAmount = 440, 440
	if got := strings.Join(differing(ours, reg), ","); got != "debits_amount,net_amount" {
		t.Fatalf("differing: %s", got)
	}
}

// TestDayAndBatchUsage: wrong arguments are usage errors (exit 2) before
// anything is sent.
func TestDayAndBatchUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"day"}, "want list, show, cutover, file or reconcile"},
		{[]string{"day", "close"}, `unknown verb "close"`},
		{[]string{"day", "show"}, "needs one DAY"},
		{[]string{"day", "list", "20260314"}, "takes no argument"},
		{[]string{"day", "show", "yesterday"}, "want YYYYMMDD"},
		{[]string{"day", "cutover", "--day", "2026-03-14"}, "want YYYYMMDD"},
		{[]string{"day", "file", "20260314"}, "needs --acquirer"},
		{[]string{"day", "file", "20260314", "--acquirer", "a", "--format", "xml"}, "want csv or json"},
		{[]string{"day", "reconcile", "20260314", "--acquirer", "a"}, "needs --file"},
		{[]string{"batch"}, "want 'batch list --terminal T'"},
		{[]string{"batch", "list"}, "needs --terminal"},
		{[]string{"batch", "close", "--terminal", "T"}, "needs --batch N"},
	}
	for _, tc := range tests {
		_, errs, code := tillctl(append(tc.args, "--endpoints", "127.0.0.1:1")...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("tillctl %v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestStatusSAF(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	rows := []endpointStatus{
		{Endpoint: "a", Status: &adminapi.Status{ID: "node2", Role: "follower"}},
		{Endpoint: "b", Status: &adminapi.Status{ID: "node1", Role: "leader", SAF: []adminapi.SAFQueue{
			{Acquirer: "visa", Depth: 3, Oldest: now.Add(-150 * time.Second)}}}},
	}
	var b strings.Builder
	if err := writeSAF(&b, rows, now); err != nil {
		t.Fatal(err)
	}
	want := "\nstore-and-forward (as node1 sees it):\n" + columns([][]string{
		{"ACQUIRER", "DEPTH", "OLDEST AGE", "OLDEST QUEUED"}, {"visa", "3", "2m30s", "2026-03-14T11:57:30Z"}})
	if b.String() != want {
		t.Fatalf("SAF:\n%s\nwant\n%s", b.String(), want)
	}
}
