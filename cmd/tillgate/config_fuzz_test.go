package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillgate/tillgate/node"
)

// TestConfigErrorsNameTheKey: every kind of bad config value names its key
// path, a syntax error its line and column.
func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"raft":{"election_timeout":"7x"}}`, "key raft.election_timeout: duration \"7x\""},
		{`{"raft":{"election_timeout":7}}`, "key raft.election_timeout: duration 7: not a string"},
		{`{"acquirers":[{"name":"a","timeout":"soon"}]}`, "key acquirers.timeout: duration"},
		{`{"max_frame":"x"}`, "key max_frame:"},
		{`{"id":"n1","saf":{"id":1}}`, `key saf.id: json: unknown field "id"`},
		{`{"peers":[{"id":1}]}`, "key peers.id:"},
		{"{\n  \"id\": \"a\",\n}", "line 3 col 1:"},
		{`{"id":"a"`, "line 1 col 10: the file ends inside a value"},
		{`{"id":"a"} {}`, "line 1 col 12: data after the config object"},
		// Found by FuzzParseConfig in CI: data after the object hid the key.
		{`{"x":{"":true},"idle_timeout":"" }0`, "key idle_timeout: duration"},
		{``, "the file is empty"},
	} {
		cfg := node.DefaultConfig()
		err := parseConfig([]byte(tt.in), &cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.in, err, tt.want)
		}
	}
}

// FuzzParseConfig: the config loader never panics, nor does Validate on
// what it loads, and a refusal says where: a key path or a line.
//
//	go test ./cmd/tillgate -run '^$' -fuzz FuzzParseConfig -fuzztime 60s
func FuzzParseConfig(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "config", "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"id":"node2","data_dir":"/d","peers":[{"id":"node2","raft_addr":"h:7002","register_addr":"h:8584"}],"acquirer":{"addr":"a:1","timeout":"3s"},"raft":{"election_timeout":"700ms"}}`,
		`{"acquirers":[{"name":"a","addr":"a:1","bins":["4"],"tls":{"ca_file":"x"}}],"default_acquirer":"a","stand_in":{}}`,
		`{"raft":{"election_timeout":"7x"}}`, `{"saf":{"x":1}}`, `{"id":"a",}`, `null`, `[]`, `{"admin_addr":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := node.DefaultConfig()
		err := parseConfig(b, &cfg)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "key ") && !strings.Contains(msg, "line ") && !strings.Contains(msg, "empty") &&
				!strings.Contains(msg, "cannot unmarshal") {
				t.Fatalf("refusal of %q says not where: %v", b, err)
			}
			return
		}
		_ = cfg.Validate()
	})
}
