package node_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// seed sends through the register port: on TERM0001 purchases of 1000 and
// 2000 (approved), 1051 (51 from the acquirer) and one of 700 on a card the
// acquirer declines (05); on TERM0002 a purchase of 3000. It returns the
// requests in that order.
func seed(t *testing.T, regAddr string) []*wire.Message {
	t.Helper()
	c := dial(t, regAddr)
	var reqs []*wire.Message
	for _, tc := range []struct {
		amount   int64
		pan, tid string
		rc       string
	}{
		{1000, "", "", "00"}, {2000, "", "", "00"}, {1051, "", "", "51"},
		{700, "4000000000000002", "", "05"}, {3000, "", "TERM0002", "00"},
	} {
		req := purchase(tc.amount)
		if tc.pan != "" {
			req.PAN = tc.pan
		}
		if tc.tid != "" {
			req.TerminalID = tc.tid
		}
		if resp := c.roundTrip(req); resp.ResponseCode != tc.rc {
			t.Fatalf("purchase %d: RC %s, want %s", tc.amount, resp.ResponseCode, tc.rc)
		}
		reqs = append(reqs, req)
	}
	return reqs
}

func adminClient(cfg node.Config) *adminapi.Client {
	c := adminapi.NewClient(cfg.AdminAddr)
	c.Token = cfg.AdminToken
	return c
}

func TestAdminAuth(t *testing.T) {
	cl := adminCluster(t, 1, func(c *node.Config) { c.AdminToken = "s3cret" })
	base := "http://" + cl.Configs[0].AdminAddr
	get := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/status", "/members", "/txns", "/reports?by=day", "/backup", "/totals"} {
		if code := get(p, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", p, code)
		}
		if code := get(p, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", p, code)
		}
		if code := get(p, "s3cret"); code != http.StatusOK {
			t.Errorf("GET %s with the token: %d, want 200", p, code)
		}
	}
	for _, p := range []string{"/livez", "/metrics", "/"} {
		if code := get(p, ""); code != http.StatusOK {
			t.Errorf("GET %s without token: %d, want 200 (open)", p, code)
		}
	}
	_, err := adminapi.NewClient(cl.Configs[0].AdminAddr).Status(context.Background())
	var ae *adminapi.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), "no bearer token") || !strings.Contains(err.Error(), cl.Configs[0].AdminAddr) {
		t.Fatalf("client without token: %v, want a 401 naming the node and the token", err)
	}
}

func TestAdminTxnSearch(t *testing.T) {
	cl := adminCluster(t, 1, nil)
	reqs := seed(t, cl.Configs[0].RegisterAddr)
	c := adminClient(cl.Configs[0])
	ctx := context.Background()
	first, err := c.Txn(ctx, reqs[0].Key())
	if err != nil {
		t.Fatal(err)
	}
	if first.PAN != "411111******1111" || first.Status != "approved" || first.RC != "00" || first.Amount != 1000 || first.RRN == "" || first.AuthCode == "" {
		t.Fatalf("tx show: %+v", first)
	}
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name string
		q    adminapi.TxnQuery
		want []int // indexes into reqs, in id order
	}{
		{"terminal", adminapi.TxnQuery{Terminal: "TERM0002"}, []int{4}},
		{"merchant", adminapi.TxnQuery{Merchant: "MERCHANT0000001"}, []int{0, 1, 2, 3, 4}},
		{"day", adminapi.TxnQuery{Day: first.Day}, []int{0, 1, 2, 3, 4}},
		{"status", adminapi.TxnQuery{Status: "declined"}, []int{2, 3}},
		{"rc", adminapi.TxnQuery{RC: "51"}, []int{2}},
		{"amount range", adminapi.TxnQuery{MinAmount: i64(1000), MaxAmount: i64(2000)}, []int{0, 1, 2}},
		{"rrn", adminapi.TxnQuery{RRN: first.RRN}, []int{0}},
		{"auth code", adminapi.TxnQuery{AuthCode: first.AuthCode, Terminal: "TERM0001"}, []int{0}},
		{"bin", adminapi.TxnQuery{BIN: "400000"}, []int{3}},
		{"last4", adminapi.TxnQuery{Last4: "1111", Status: "approved"}, []int{0, 1, 4}},
		{"acquirer", adminapi.TxnQuery{Acquirer: "acquirer", RC: "05"}, []int{3}},
		{"other acquirer", adminapi.TxnQuery{Acquirer: "other"}, nil},
		{"from", adminapi.TxnQuery{From: first.CreatedAt.Add(time.Nanosecond), Terminal: "TERM0001"}, []int{1, 2, 3}},
		{"to", adminapi.TxnQuery{To: first.CreatedAt.Add(time.Nanosecond)}, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := c.Txns(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var want, got []string
			for _, i := range tc.want {
				want = append(want, reqs[i].Key())
			}
			for _, x := range page.Txns {
				got = append(got, x.ID)
			}
			if !reflect.DeepEqual(got, want) || page.NextCursor != "" {
				t.Fatalf("got %v next %q, want %v", got, page.NextCursor, want)
			}
		})
	}
	t.Run("pages", func(t *testing.T) {
		q := adminapi.TxnQuery{Merchant: "MERCHANT0000001", Limit: 2}
		var got []string
		for pages := 0; ; pages++ {
			page, err := c.Txns(ctx, q)
			if err != nil || pages > 5 {
				t.Fatalf("page %d: %v", pages, err)
			}
			for _, x := range page.Txns {
				got = append(got, x.ID)
			}
			if page.NextCursor == "" {
				break
			}
			q.Cursor = page.NextCursor
		}
		var want []string
		for _, r := range reqs {
			want = append(want, r.Key())
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pages gave %v, want %v", got, want)
		}
	})
	t.Run("bad parameters", func(t *testing.T) {
		for path, param := range map[string]string{
			"/txns?day=2025-11-22": "day", "/txns?status=ok": "status", "/txns?min_amount=-1": "min_amount",
			"/txns?from=yesterday": "from", "/txns?limit=0": "limit", "/txns?cursor=zz": "cursor",
			"/txns?termnal=T": "termnal", "/txns?last4=12": "last4", "/txns?min_amount=5&max_amount=4": "max_amount",
			"/reports?by=week": "by", "/reports": "by", "/reports?by=day&day=1": "day",
		} {
			var e adminapi.Error
			if code := getJSON(t, "http://"+cl.Configs[0].AdminAddr+path, &e); code != http.StatusBadRequest || e.Param != param || !strings.Contains(e.Error, param) {
				t.Errorf("GET %s: %d %+v, want 400 naming %s", path, code, e, param)
			}
		}
	})
	t.Run("no clear or encrypted PAN", func(t *testing.T) {
		for _, path := range []string{"/txns", "/txns/" + reqs[0].Key()} {
			var raw map[string]any
			getJSON(t, "http://"+cl.Configs[0].AdminAddr+path, &raw)
			s := strings.ToLower(strings.Join(strings.Fields(strings.ReplaceAll(toString(raw), "\n", "")), ""))
			if strings.Contains(s, "4111111111111111") || strings.Contains(s, "panenc") || strings.Contains(s, "pan_hash") || strings.Contains(s, "panhash") {
				t.Fatalf("GET %s shows card data: %s", path, s)
			}
		}
	})
}

func TestAdminReports(t *testing.T) {
	cl := adminCluster(t, 1, nil)
	reqs := seed(t, cl.Configs[0].RegisterAddr)
	c := adminClient(cl.Configs[0])
	ctx := context.Background()
	first, err := c.Txn(ctx, reqs[0].Key())
	if err != nil {
		t.Fatal(err)
	}
	sum := func(n, a int64) adminapi.Sum { return adminapi.Sum{Count: n, Amount: a} }
	tests := []struct {
		q    adminapi.ReportQuery
		want []adminapi.ReportRow
	}{
		{adminapi.ReportQuery{By: "terminal"}, []adminapi.ReportRow{
			{Key: "TERM0001", Total: sum(4, 4751), Approved: sum(2, 3000), Declined: sum(2, 1751)},
			{Key: "TERM0002", Total: sum(1, 3000), Approved: sum(1, 3000)},
		}},
		{adminapi.ReportQuery{By: "rc", Day: first.Day}, []adminapi.ReportRow{
			{Key: "00", Total: sum(3, 6000), Approved: sum(3, 6000)},
			{Key: "05", Total: sum(1, 700), Declined: sum(1, 700)},
			{Key: "51", Total: sum(1, 1051), Declined: sum(1, 1051)},
		}},
		{adminapi.ReportQuery{By: "day"}, []adminapi.ReportRow{
			{Key: first.Day, Total: sum(5, 7751), Approved: sum(3, 6000), Declined: sum(2, 1751)},
		}},
		{adminapi.ReportQuery{By: "acquirer", Type: "refund"}, []adminapi.ReportRow{}},
	}
	for _, tc := range tests {
		r, err := c.Report(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Rows, tc.want) {
			t.Errorf("%+v:\n got %+v\nwant %+v", tc.q, r.Rows, tc.want)
		}
	}
}

func TestAdminBackupMembersSnapshot(t *testing.T) {
	cl := adminCluster(t, 1, nil)
	seed(t, cl.Configs[0].RegisterAddr)
	c := adminClient(cl.Configs[0])
	ctx := context.Background()

	m, err := c.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := adminapi.Members{LeaderID: "node1", Members: []adminapi.Member{{ID: "node1", RaftAddr: cl.Configs[0].RaftAddr, Suffrage: "voter", Leader: true, Self: true}}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("members %+v, want %+v", m, want)
	}

	snap, err := c.Snapshot(ctx)
	if err != nil || !snap.Fresh || snap.Index == 0 {
		t.Fatalf("snapshot: %+v, %v", snap, err)
	}
	// A snapshot is an audited operator action: the outcome of the first
	// and the start of the second are new entries, so the second is fresh
	// by exactly those two.
	if again, err := c.Snapshot(ctx); err != nil || !again.Fresh || again.Index != snap.Index+2 {
		t.Fatalf("second snapshot: %+v, %v, want fresh at %d (two audit records)", again, err, snap.Index+2)
	}

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Backup(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := c.Hash(ctx) // no traffic since the seed: the state is still
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("backup does not open as a state file: %v", err)
	}
	defer s.Close()
	got, err := s.Hash()
	if err != nil {
		t.Fatal(err)
	}
	// The backup is the state as of its request, the start of its own
	// audit record included; the one entry the node applied after it is
	// that record's outcome, so the states differ by exactly that.
	if hexOf(got) == h.SHA256 || s.AppliedIndex() != h.AppliedIndex-1 {
		t.Fatalf("backup at %d, node at %d: want the node one audit record ahead", s.AppliedIndex(), h.AppliedIndex)
	}
	recs, err := s.Audit(store.AuditQuery{})
	if err != nil || len(recs) != 3 || recs[2].Action != "backup" || recs[2].Done || !recs[0].Done || !recs[1].Done {
		t.Fatalf("backup's audit log: %+v %v, want two snapshots done and the backup started", recs, err)
	}
	bt, err := s.Totals()
	if err != nil {
		t.Fatal(err)
	}
	nt, err := c.Totals(ctx)
	if err != nil || len(bt.Net) == 0 || len(bt.Net) != len(nt.Net) {
		t.Fatalf("backup totals %+v, node %+v %v", bt, nt, err)
	}
	for kind, sum := range bt.Net {
		if nt.Net[kind] != (adminapi.Sum{Count: sum.Count, Amount: sum.Amount}) {
			t.Fatalf("backup totals %+v, node %+v", bt, nt)
		}
	}
}

// TestAdminMembershipOnFollower: a membership change sent to a follower is
// refused with 421 naming the leader; the status of every node lists the
// three voters.
func TestAdminMembershipOnFollower(t *testing.T) {
	cl := adminCluster(t, 3, nil)
	leader := cl.Leader()
	follower := (leader + 1) % 3
	c := adminClient(cl.Configs[follower])
	_, err := c.AddMember(context.Background(), "node4", "127.0.0.1:1")
	var ae *adminapi.APIError
	if !errors.As(err, &ae) || !ae.NotLeader() || ae.Body.LeaderID != cl.Configs[leader].ID {
		t.Fatalf("add on a follower: %v, want 421 naming %s", err, cl.Configs[leader].ID)
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != cl.Configs[follower].ID || st.Role != "follower" || len(st.Peers) != 3 || st.LeaderID != cl.Configs[leader].ID {
		t.Fatalf("follower status %+v", st)
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }
