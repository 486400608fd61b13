package node_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
)

const (
	aliceToken   = "alice-operator-token-000000"
	auditorToken = "auditor-read-token-0000000"
	legacyToken  = "legacy-admin-token-0000000"
)

func auditTokens(c *node.Config) {
	c.AdminTokens = []node.AdminToken{{Name: "alice", Role: "operator", Value: aliceToken}, {Name: "auditor", Role: "read-only", Value: auditorToken}}
	c.AdminToken = legacyToken
}

func clientAs(cfg node.Config, token string) *adminapi.Client {
	c := adminapi.NewClient(cfg.AdminAddr)
	c.Token = token
	return c
}

// TestAuditReplicated: operator actions on the leader and on a standby
// (whose records go to the leader), a refusal, and a leader transfer
// (whose outcome goes to the new leader) are in the audit log of every
// node of a 3-node cluster, field for field the same.
func TestAuditReplicated(t *testing.T) {
	cl := adminCluster(t, 3, auditTokens)
	ctx := context.Background()
	lead := cl.Leader()
	standby := (lead + 1) % 3
	leaderID, standbyID := cl.Configs[lead].ID, cl.Configs[standby].ID

	// 1. A snapshot on the standby, by alice: recorded at the leader.
	if _, err := clientAs(cl.Configs[standby], aliceToken).Snapshot(ctx); err != nil {
		t.Fatalf("snapshot on the standby: %v", err)
	}
	// 2. A backup from the standby (a read that is an operator action).
	if _, err := clientAs(cl.Configs[standby], aliceToken).Backup(ctx, io.Discard); err != nil {
		t.Fatalf("backup: %v", err)
	}
	// 3. A batch close on the leader with the legacy admin_token ("admin").
	if _, err := clientAs(cl.Configs[lead], legacyToken).CloseBatch(ctx, "TERM0042", 1); err != nil {
		t.Fatalf("batch close: %v", err)
	}
	// 4. The read-only token tries a leader transfer: 403, recorded.
	_, err := clientAs(cl.Configs[lead], auditorToken).TransferLeader(ctx)
	var ae *adminapi.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || ae.Body.Need != "operator" {
		t.Fatalf("transfer by the read-only token: %v", err)
	}
	// 5. Alice transfers leadership: the outcome is recorded by the new
	// leader.
	if _, err := clientAs(cl.Configs[lead], aliceToken).TransferLeader(ctx); err != nil {
		t.Fatalf("transfer: %v", err)
	}

	want := []adminapi.AuditRecord{
		{Actor: "alice", Role: "operator", Action: "snapshot", Params: []adminapi.AuditParam{}, Node: standbyID, Outcome: "ok", Status: 200},
		{Actor: "alice", Role: "operator", Action: "backup", Params: []adminapi.AuditParam{}, Node: standbyID, Outcome: "ok", Status: 200},
		{Actor: "admin", Role: "operator", Action: "batch.close",
			Params: []adminapi.AuditParam{{Name: "terminal", Value: "TERM0042"}, {Name: "number", Value: "1"}}, Node: leaderID, Outcome: "ok", Status: 200},
		{Actor: "auditor", Role: "read-only", Action: "leader.transfer", Params: []adminapi.AuditParam{}, Node: leaderID, Outcome: "refused", Status: 403,
			Error: "POST /leader/transfer needs the operator role; token \"auditor\" is read-only"},
		{Actor: "alice", Role: "operator", Action: "leader.transfer", Params: []adminapi.AuditParam{}, Node: leaderID, Outcome: "ok", Status: 200},
	}
	var first []adminapi.AuditRecord
	for i, cfg := range cl.Configs {
		got := waitAudit(t, clientAs(cfg, auditorToken), len(want))
		for j, r := range got {
			if r.ID == "" || r.Seq == 0 || r.At.IsZero() || r.EndedAt == nil || r.EndedAt.Before(r.At) || !strings.HasPrefix(r.Source, "127.0.0.1:") {
				t.Errorf("%s record %d: id, seq, times or source missing: %+v", cfg.ID, j, r)
			}
			if j > 0 && r.Seq <= got[j-1].Seq {
				t.Errorf("%s: records out of order: %d after %d", cfg.ID, r.Seq, got[j-1].Seq)
			}
			w := want[j]
			w.ID, w.Seq, w.At, w.EndedAt, w.Source = r.ID, r.Seq, r.At, r.EndedAt, r.Source
			if !reflect.DeepEqual(r, w) {
				t.Errorf("%s record %d:\n got %+v\nwant %+v", cfg.ID, j, r, w)
			}
		}
		if i == 0 {
			first = got
		} else if !reflect.DeepEqual(got, first) {
			t.Errorf("%s's audit log differs from %s's", cfg.ID, cl.Configs[0].ID)
		}
	}
	// Filters: by actor and action, on any node.
	log, err := clientAs(cl.Configs[standby], auditorToken).Audit(ctx, adminapi.AuditQuery{Actor: "alice", Action: "leader.transfer"})
	if err != nil || len(log.Records) != 1 || log.Records[0].Outcome != "ok" {
		t.Fatalf("filtered: %+v %v", log.Records, err)
	}
}

// waitAudit waits until the node lists n records, all with an outcome.
func waitAudit(t *testing.T, c *adminapi.Client, n int) []adminapi.AuditRecord {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		log, err := c.Audit(context.Background(), adminapi.AuditQuery{})
		if err == nil && len(log.Records) >= n {
			done := true
			for _, r := range log.Records {
				done = done && r.Outcome != adminapi.AuditUnknown
			}
			if done {
				return log.Records
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: audit log %+v (%v), want %d records with outcomes", c.Base, log.Records, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAdminRefusesOpenOffLoopback: a node will not start an admin API
// without a token on an address others can reach.
func TestAdminRefusesOpenOffLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		tokens bool
		ok     bool
	}{
		{"0.0.0.0:9101", false, false},
		{":9101", false, false},
		{"10.0.1.11:9101", false, false},
		{"admin.example.net:9101", false, false},
		{"[::]:9101", false, false},
		{"0.0.0.0:9101", true, true},
		{"127.0.0.1:9101", false, true},
		{"[::1]:9101", false, true},
		{"localhost:9101", false, true},
		{"", false, true}, // no admin API at all
	} {
		c := goodConfig(t)
		c.AdminAddr = tc.addr
		if tc.tokens {
			auditTokens(&c)
		}
		err := c.Validate()
		if tc.ok != (err == nil) {
			t.Errorf("admin_addr %q, tokens %v: %v", tc.addr, tc.tokens, err)
		}
		if err != nil && !strings.Contains(err.Error(), "set admin_tokens") {
			t.Errorf("admin_addr %q: %v does not say what to set", tc.addr, err)
		}
		if !tc.ok {
			if _, err := node.New(c); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
				t.Errorf("node.New with admin_addr %q and no token: %v", tc.addr, err)
			}
		}
	}
}

func goodConfig(t *testing.T) node.Config {
	c := node.DefaultConfig()
	c.ID, c.DataDir, c.CardKeyFile = "n1", t.TempDir(), "/nonexistent/card.key"
	c.Acquirer.Addr = "127.0.0.1:9583"
	c.Peers = []node.Peer{{ID: "n1", RaftAddr: "127.0.0.1:7001", RegisterAddr: "127.0.0.1:8583"}}
	return c
}
