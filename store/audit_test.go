package store

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func auditStart(id string, keep uint64, at int64) []byte {
	return AuditCmd(Audit{Phase: AuditStart, Keep: keep, Record: AuditRecord{
		ID: id, At: at, Actor: "alice", Role: "operator", Action: "member.add",
		Params: []AuditParam{{"id", "node4"}, {"raft_addr", "10.0.0.4:7001"}}, Source: "10.0.0.9:5555", Node: "node1",
		// Outcome fields of a start are ignored.
		Done: true, Status: 200, Error: "ignored",
	}})
}

func TestAuditCommandRoundTrip(t *testing.T) {
	in := Audit{Phase: AuditWhole, Keep: 7, Record: AuditRecord{ID: "n1:1", At: -5, Actor: "bob", Role: "read", Action: "day.cutover",
		Params: []AuditParam{{"day", "20260101"}}, Source: "s", Node: "n", Done: true, EndedAt: 9, Status: 403, Error: "needs operator"}}
	c, err := DecodeCommand(AuditCmd(in))
	if err != nil || c.Op != OpAudit || !reflect.DeepEqual(*c.Audit, in) {
		t.Fatalf("round trip: %+v %v", c.Audit, err)
	}
	if got := Encode(c); string(got) != string(AuditCmd(in)) {
		t.Fatal("Encode differs from AuditCmd")
	}
	for n := range len(AuditCmd(in)) {
		if _, err := DecodeCommand(AuditCmd(in)[:n]); err == nil {
			t.Fatalf("truncated at %d decodes", n)
		}
	}
}

func TestAuditApply(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	start := l.apply(auditStart("n1:1", 10, 100))
	want := AuditRecord{Seq: l.next - 1, ID: "n1:1", At: 100, Actor: "alice", Role: "operator", Action: "member.add",
		Params: []AuditParam{{"id", "node4"}, {"raft_addr", "10.0.0.4:7001"}}, Source: "10.0.0.9:5555", Node: "node1"}
	if start.Err != nil || !reflect.DeepEqual(*start.Audit, want) {
		t.Fatalf("start: %+v %v\nwant %+v", start.Audit, start.Err, want)
	}
	if again := l.apply(auditStart("n1:1", 10, 999)); !again.Existed || again.Audit.At != 100 {
		t.Fatalf("repeated start: %+v", again)
	}
	end := l.apply(AuditCmd(Audit{Phase: AuditEnd, Record: AuditRecord{ID: "n1:1", EndedAt: 200, Status: 503, Error: "no quorum"}}))
	want.Done, want.EndedAt, want.Status, want.Error = true, 200, 503, "no quorum"
	if end.Err != nil || !reflect.DeepEqual(*end.Audit, want) {
		t.Fatalf("end: %+v %v", end.Audit, end.Err)
	}
	if again := l.apply(AuditCmd(Audit{Phase: AuditEnd, Record: AuditRecord{ID: "n1:1", EndedAt: 300, Status: 200}})); !again.Existed || again.Audit.Status != 503 {
		t.Fatalf("repeated end changed the record: %+v", again)
	}
	if r := l.apply(AuditCmd(Audit{Phase: AuditEnd, Record: AuditRecord{ID: "nope"}})); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("end of an unknown record: %v", r.Err)
	}
	got, err := s.Audit(AuditQuery{})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(*got[0], want) {
		t.Fatalf("list: %+v %v", got, err)
	}
}

func TestAuditRefusesOversize(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	big := strings.Repeat("x", MaxAuditField+1)
	many := make([]AuditParam, MaxAuditParams+1)
	for _, tc := range []struct {
		name string
		a    Audit
	}{
		{"phase", Audit{Phase: 9, Keep: 1, Record: AuditRecord{ID: "a"}}},
		{"no id", Audit{Phase: AuditStart, Keep: 1}},
		{"keep 0", Audit{Phase: AuditStart, Record: AuditRecord{ID: "a"}}},
		{"actor", Audit{Phase: AuditStart, Keep: 1, Record: AuditRecord{ID: "a", Actor: big}}},
		{"param", Audit{Phase: AuditStart, Keep: 1, Record: AuditRecord{ID: "a", Params: []AuditParam{{"p", big}}}}},
		{"params", Audit{Phase: AuditStart, Keep: 1, Record: AuditRecord{ID: "a", Params: many}}},
		{"error", Audit{Phase: AuditWhole, Keep: 1, Record: AuditRecord{ID: "a", Error: strings.Repeat("e", MaxAuditError+1)}}},
	} {
		if r := l.apply(AuditCmd(tc.a)); !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, r.Err)
		}
	}
	if got, _ := s.Audit(AuditQuery{}); len(got) != 0 {
		t.Fatalf("refused commands stored %d records", len(got))
	}
}

// TestAuditRetention: the oldest records beyond Keep go, with their ids,
// and the listing filters.
func TestAuditRetention(t *testing.T) {
	s := mustOpen(t, true)
	l := newLog(t, s)
	for i := range 5 {
		cmd := AuditCmd(Audit{Phase: AuditWhole, Keep: 3, Record: AuditRecord{ID: fmt.Sprint("id", i), At: int64(i),
			Actor: []string{"alice", "bob"}[i%2], Action: "snapshot", Done: true}})
		if r := l.apply(cmd); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	ids := func(q AuditQuery) []string {
		got, err := s.Audit(q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range got {
			out = append(out, r.ID)
		}
		return out
	}
	if got := ids(AuditQuery{}); !reflect.DeepEqual(got, []string{"id2", "id3", "id4"}) {
		t.Fatalf("kept %v", got)
	}
	if got := ids(AuditQuery{Actor: "alice"}); !reflect.DeepEqual(got, []string{"id2", "id4"}) {
		t.Fatalf("alice: %v", got)
	}
	if got := ids(AuditQuery{Since: 3, Limit: 1}); !reflect.DeepEqual(got, []string{"id4"}) {
		t.Fatalf("since 3, limit 1: %v", got)
	}
	if got := ids(AuditQuery{Action: "backup"}); got != nil {
		t.Fatalf("backup: %v", got)
	}
	// A dropped id may start again: its index went with it.
	if r := l.apply(AuditCmd(Audit{Phase: AuditEnd, Record: AuditRecord{ID: "id0"}})); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("end of a dropped record: %v", r.Err)
	}
	// A lower Keep later trims more at once.
	if r := l.apply(auditStart("last", 1, 9)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if got := ids(AuditQuery{}); !reflect.DeepEqual(got, []string{"last"}) {
		t.Fatalf("after keep 1: %v", got)
	}
}
