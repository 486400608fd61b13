package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// TestAuditCommand: a snapshot taken with the (legacy) token appears in
// tillctl audit as the table and as JSON, and the filters narrow it.
func TestAuditCommand(t *testing.T) {
	cl := startCluster(t, 1)
	ep := cl.Configs[0].AdminAddr
	if _, errs, code := tillctl("snapshot", "--endpoints", ep, "--token", "tok"); code != 0 {
		t.Fatalf("snapshot: exit %d %s", code, errs)
	}
	out, errs, code := tillctl("audit", "--endpoints", ep, "--token", "tok", "--json", "--since", "1h")
	var log adminapi.AuditLog
	if code != 0 || json.Unmarshal([]byte(out), &log) != nil || len(log.Records) != 1 {
		t.Fatalf("audit --json: exit %d %s\n%s", code, errs, out)
	}
	r := log.Records[0]
	if r.Actor != "admin" || r.Role != "operator" || r.Action != "snapshot" || r.Node != "node1" || r.Outcome != "ok" || r.Status != 200 {
		t.Fatalf("record %+v", r)
	}
	out, _, code = tillctl("audit", "--endpoints", ep, "--token", "tok")
	want := columns([][]string{
		{"TIME", "ACTOR", "ROLE", "ACTION", "PARAMS", "NODE", "SOURCE", "OUTCOME", "ERROR"},
		{r.At.Format(time.RFC3339), "admin", "operator", "snapshot", "-", "node1", r.Source, "ok 200", "-"},
	})
	if code != 0 || out != want {
		t.Fatalf("audit table:\n%s\nwant\n%s", out, want)
	}
	for _, args := range [][]string{{"--actor", "alice"}, {"--action", "backup"}, {"--since", r.At.Add(time.Second).Format(time.RFC3339Nano)}} {
		out, _, code := tillctl(append([]string{"audit", "--endpoints", ep, "--token", "tok", "-o", "json"}, args...)...)
		if code != 0 || !strings.Contains(out, `"records": []`) {
			t.Errorf("audit %v: exit %d\n%s", args, code, out)
		}
	}
	if _, errs, code := tillctl("audit", "--endpoints", ep, "--token", "tok", "--since", "yesterday"); code != 2 || !strings.Contains(errs, "RFC 3339") {
		t.Fatalf("bad --since: exit %d %s", code, errs)
	}
}
