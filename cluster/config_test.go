package cluster

import (
	"errors"
	"testing"
	"time"
)

func TestWithDefaultsFillsZeroFields(t *testing.T) {
	got := Config{ID: "a", HeartbeatTimeout: 2 * time.Second}.withDefaults()
	want := DefaultConfig()
	want.ID, want.HeartbeatTimeout = "a", 2*time.Second
	got.Logger, want.Logger = nil, nil
	if got.HeartbeatTimeout != want.HeartbeatTimeout || got.ElectionTimeout != want.ElectionTimeout ||
		got.LeaderLeaseTimeout != want.LeaderLeaseTimeout || got.CommitTimeout != want.CommitTimeout ||
		got.SnapshotThreshold != want.SnapshotThreshold || got.SnapshotInterval != want.SnapshotInterval ||
		got.TrailingLogs != want.TrailingLogs || got.MaxAppendEntries != want.MaxAppendEntries ||
		got.LogCacheSize != want.LogCacheSize || got.ApplyTimeout != want.ApplyTimeout {
		t.Fatalf("withDefaults = %+v, want %+v", got, want)
	}
	if (Config{}).withDefaults().Logger == nil {
		t.Fatal("nil Logger not replaced")
	}
}

func TestValidate(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.ID, c.Dir, c.BindAddr = "n1", "/tmp/x", "127.0.0.1:0"
		return c
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"bootstrap alone", func(c *Config) { c.Bootstrap = true }, true},
		{"bootstrap with self", func(c *Config) { c.Bootstrap, c.Peers = true, []Peer{{"n1", "a:1"}, {"n2", "b:1"}} }, true},
		{"no ID", func(c *Config) { c.ID = "" }, false},
		{"no Dir", func(c *Config) { c.Dir = "" }, false},
		{"no BindAddr", func(c *Config) { c.BindAddr = "" }, false},
		{"bootstrap without self", func(c *Config) { c.Bootstrap, c.Peers = true, []Peer{{"n2", "b:1"}} }, false},
		{"peer without addr", func(c *Config) { c.Peers = []Peer{{"n2", ""}} }, false},
		{"duplicate peer", func(c *Config) { c.Peers = []Peer{{"n2", "b:1"}, {"n2", "c:1"}} }, false},
		{"lease over heartbeat", func(c *Config) { c.LeaderLeaseTimeout = time.Second }, false},
		{"election under heartbeat", func(c *Config) { c.ElectionTimeout = 100 * time.Millisecond }, false},
		{"too many entries", func(c *Config) { c.MaxAppendEntries = 2048 }, false},
		{"negative cache", func(c *Config) { c.LogCacheSize = -1 }, false},
		{"negative apply timeout", func(c *Config) { c.ApplyTimeout = -time.Second }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base()
			c.mutate(&cfg)
			err := cfg.validate()
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("validate = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestRaftConfig(t *testing.T) {
	c := DefaultConfig()
	c.ID = "n1"
	rc := c.raftConfig(nil, true)
	if !rc.BatchApplyCh || !rc.NoSnapshotRestoreOnStart || rc.MaxAppendEntries != 1024 ||
		rc.HeartbeatTimeout != DefaultHeartbeatTimeout || rc.LeaderLeaseTimeout != DefaultLeaderLeaseTimeout ||
		rc.SnapshotThreshold != DefaultSnapshotThreshold || rc.TrailingLogs != DefaultTrailingLogs || string(rc.LocalID) != "n1" {
		t.Fatalf("raft config %+v", rc)
	}
	if c.raftConfig(nil, false).NoSnapshotRestoreOnStart {
		t.Fatal("a volatile state machine must get raft's restore on start")
	}
}
