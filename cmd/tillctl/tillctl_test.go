package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/internal/localcluster"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

func startCluster(t *testing.T, n int) *localcluster.Cluster {
	t.Helper()
	cl, _ := startClusterSim(t, n)
	return cl
}

// startClusterSim starts n nodes and the acquirer simulator they use.
func startClusterSim(t *testing.T, n int) (*localcluster.Cluster, *sim.Sim) {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Open(sim.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "acq"), Dialect: wire.DefaultDialect()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cl, err := localcluster.Start(localcluster.Options{Dir: dir, Nodes: n, AcquirerAddr: s.Addr(),
		Tune: func(c *node.Config) { c.AdminToken = "tok" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if _, err := cl.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := cl.RegisterTerminals(30*time.Second, store.TerminalRange{From: "TERM0001", To: "TERM0009", Merchant: "MERCHANT0000001", Store: "store-1"}); err != nil {
		t.Fatal(err)
	}
	return cl, s
}

// purchase sends one 0200 and returns its RC.
func purchase(t *testing.T, addr, terminal string, stan int, amount int64) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	codec := wire.NewCodec(wire.DefaultDialect())
	b, err := codec.PackFrame(nil, &wire.Message{
		MTI: "0200", PAN: "4111111111111111", ProcCode: "000000", Amount: amount, HasAmount: true,
		TransmissionTime: time.Now().UTC().Format("0102150405"), STAN: fmt.Sprintf("%06d", stan),
		LocalTime: "120000", LocalDate: "1122", Expiry: "3012", POSEntryMode: "051", POSCondition: "00",
		TerminalID: terminal, MerchantID: "MERCHANT0000001", Currency: "978",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	var hdr [2]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(conn, payload); err != nil {
		t.Fatal(err)
	}
	m, err := codec.Unpack(payload)
	if err != nil {
		t.Fatal(err)
	}
	return m.ResponseCode
}

// tillctl runs the CLI and returns stdout, stderr and the exit code.
func tillctl(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestStatusTable(t *testing.T) {
	cl := startCluster(t, 1)
	ep := cl.Configs[0].AdminAddr
	c := adminapi.NewClient(ep)
	c.Token = "tok"
	// Indexes may still move right after the election: compare with the
	// status read just after, until the two agree.
	for try := 0; ; try++ {
		out, errs, code := tillctl("status", "--endpoints", ep, "--token", "tok")
		st, err := c.Status(context.Background())
		if err != nil || code != 0 {
			t.Fatalf("status: exit %d %s %v", code, errs, err)
		}
		want := columns([][]string{
			{"ENDPOINT", "ID", "ROLE", "TERM", "LEADER", "APPLIED", "COMMIT", "LAST", "SNAPSHOT", "LAG", "SERVING"},
			{"http://" + ep, "node1", "leader", fmt.Sprint(st.Term), "node1", fmt.Sprint(st.AppliedIndex),
				fmt.Sprint(st.CommitIndex), fmt.Sprint(st.LastIndex), "0", "0", "true"},
		}) + "\nstore-and-forward (as node1 sees it): nothing owed\n"
		if out == want {
			break
		}
		if try > 20 {
			t.Fatalf("status table:\n%s\nwant\n%s", out, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _, code := tillctl("status", "--endpoints", ep, "--token", "tok", "-o", "json")
	var rows []endpointStatus
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0].Status.ID != "node1" || rows[0].Status.Role != "leader" {
		t.Fatalf("status -o json: exit %d\n%s", code, out)
	}
}

// columns lays rows out as the tables should: each column as wide as its
// widest cell plus two spaces, the last one unpadded.
func columns(rows [][]string) string {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c + "\n")
			} else {
				b.WriteString(c + strings.Repeat(" ", width[i]+2-len(c)))
			}
		}
	}
	return b.String()
}

func TestTxSearchAndShow(t *testing.T) {
	cl := startCluster(t, 1)
	reg := cl.Configs[0].RegisterAddr
	if rc := purchase(t, reg, "TERM0001", 1, 1250); rc != "00" {
		t.Fatalf("purchase: %s", rc)
	}
	if rc := purchase(t, reg, "TERM0002", 2, 1051); rc != "51" {
		t.Fatalf("purchase: %s", rc)
	}
	// The first endpoint is dead: tillctl must fail over to the second.
	eps := "127.0.0.1:1," + cl.Configs[0].AdminAddr
	c := adminapi.NewClient(cl.Configs[0].AdminAddr)
	c.Token = "tok"
	page, err := c.Txns(context.Background(), adminapi.TxnQuery{Terminal: "TERM0002"})
	if err != nil || len(page.Txns) != 1 {
		t.Fatalf("txns: %+v %v", page, err)
	}
	x := page.Txns[0]

	out, errs, code := tillctl("tx", "search", "--terminal", "TERM0002", "--endpoints", eps, "--token", "tok")
	want := "ID                        CREATED               TERMINAL  MERCHANT         TYPE      AMOUNT  CUR  CARD              STATUS    RC  AUTH  RRN\n" +
		fmt.Sprintf("%s  %s  TERM0002  MERCHANT0000001  purchase  10.51   978  411111******1111  declined  51  -     %s\n", x.ID, x.CreatedAt.Format(time.RFC3339), x.RRN)
	if code != 0 || out != want {
		t.Fatalf("tx search: exit %d %s\n%s\nwant\n%s", code, errs, out, want)
	}

	out, _, code = tillctl("tx", "search", "--rc", "51", "-o", "json", "--endpoints", eps, "--token", "tok")
	var got adminapi.TxnPage
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Txns) != 1 || got.Txns[0] != x || got.NextCursor != "" {
		t.Fatalf("tx search -o json: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "4111111111111111") {
		t.Fatal("clear PAN in the output")
	}

	out, _, code = tillctl("tx", "search", "--limit", "1", "--all", "-o", "json", "--endpoints", eps, "--token", "tok")
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Txns) != 2 {
		t.Fatalf("tx search --all: exit %d\n%s", code, out)
	}

	out, _, code = tillctl("tx", "show", x.ID, "--endpoints", eps, "--token", "tok")
	if code != 0 || !strings.Contains(out, "status         declined\n") || !strings.Contains(out, "card           411111******1111\n") {
		t.Fatalf("tx show: exit %d\n%s", code, out)
	}

	out, _, code = tillctl("report", "--by", "terminal", "--endpoints", eps, "--token", "tok")
	wantReport := "KEY       COUNT  AMOUNT  APPROVED  APPROVED AMT  DECLINED  DECLINED AMT  REVERSED  REVERSED AMT\n" +
		"TERM0001  1      12.50   1         12.50         0         0.00          0         0.00\n" +
		"TERM0002  1      10.51   0         0.00          1         10.51         0         0.00\n"
	if code != 0 || out != wantReport {
		t.Fatalf("report: exit %d\n%s\nwant\n%s", code, out, wantReport)
	}
}

func TestErrorsAndExitCodes(t *testing.T) {
	cl := startCluster(t, 1)
	ep := cl.Configs[0].AdminAddr
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"status", "--endpoints", ep}, 1, "no bearer token"},
		{[]string{"status", "--endpoints", ep, "--token", "bad"}, 1, "wrong bearer token"},
		{[]string{"status", "--endpoints", "127.0.0.1:1", "--token", "tok"}, 1, "http://127.0.0.1:1"},
		{[]string{"tx", "search", "--day", "yesterday", "--endpoints", ep, "--token", "tok"}, 1, "parameter day"},
		{[]string{"tx", "show", "NOPE", "--endpoints", ep, "--token", "tok"}, 1, "no transaction"},
		{[]string{"tx", "search", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"members"}, 2, "want list, add, remove or transfer"},
		{[]string{"report"}, 2, "report daily"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"status", "-o", "yaml"}, 2, "want table or json"},
	}
	for _, tc := range tests {
		_, errs, code := tillctl(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("tillctl %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

func TestMembersSnapshotBackup(t *testing.T) {
	cl := startCluster(t, 3)
	leader := cl.Leader()
	follower := (leader + 1) % 3
	// The follower is listed first: writes must follow its leader hint.
	var eps []string
	for _, i := range []int{follower, leader, (leader + 2) % 3} {
		eps = append(eps, cl.Configs[i].AdminAddr)
	}
	all := strings.Join(eps, ",")

	out, errs, code := tillctl("members", "list", "--endpoints", all, "--token", "tok", "-o", "json")
	var m adminapi.Members
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil || len(m.Members) != 3 || m.LeaderID != cl.Configs[leader].ID {
		t.Fatalf("members list: exit %d %s\n%s", code, errs, out)
	}

	out, errs, code = tillctl("members", "transfer", "--endpoints", all, "--token", "tok")
	if code != 0 || !strings.HasPrefix(out, "leadership moved from "+cl.Configs[leader].ID+" to ") {
		t.Fatalf("members transfer: exit %d %s\n%s", code, errs, out)
	}

	out, errs, code = tillctl("snapshot", "--endpoints", all, "--token", "tok")
	if code != 0 || !strings.HasPrefix(out, cl.Configs[follower].ID+": snapshot at index ") {
		t.Fatalf("snapshot: exit %d %s\n%s", code, errs, out)
	}

	path := filepath.Join(t.TempDir(), "state.db")
	if _, errs, code = tillctl("backup", "--out", path, "--endpoints", all, "--token", "tok"); code != 0 {
		t.Fatalf("backup: exit %d %s", code, errs)
	}
	out, _, code = tillctl("backup", "--endpoints", all, "--token", "tok")
	if code != 0 || !strings.HasPrefix(out, "\x00") && len(out) < 4096 {
		t.Fatalf("backup to stdout: exit %d, %d bytes", code, len(out))
	}
}
