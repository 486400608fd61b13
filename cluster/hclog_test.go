package cluster

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHclogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newHclog(l, "raft")

	a.Named("snapshots").With("peer", "n2").Info("copied", "servers", hclog.Fmt("%d of %d", 1, 3))
	a.Trace("too chatty")
	a.Warn("heartbeat failed", "error", "refused")

	var lines []map[string]any
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		delete(m, "time")
		lines = append(lines, m)
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "copied", "logger": "raft.snapshots", "peer": "n2", "servers": "1 of 3"},
		{"level": "WARN", "msg": "heartbeat failed", "logger": "raft", "error": "refused"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines %v, want %v", len(lines), lines, want)
	}
	for i := range want {
		for k, v := range want[i] {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, lines[i][k], v, lines[i])
			}
		}
		if len(lines[i]) != len(want[i]) {
			t.Errorf("line %d has extra keys: %v", i, lines[i])
		}
	}
	if a.IsTrace() || !a.IsDebug() || a.GetLevel() != hclog.Debug {
		t.Fatalf("levels: trace=%v debug=%v level=%v", a.IsTrace(), a.IsDebug(), a.GetLevel())
	}
	if got := newHclog(slog.New(slog.DiscardHandler), "x").GetLevel(); got != hclog.Off {
		t.Fatalf("discard handler level = %v, want Off", got)
	}
}
