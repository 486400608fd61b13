package node

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tillgate/tillgate/node/admin"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.ID, c.DataDir, c.CardKeyFile = "n1", "/tmp/x", "/tmp/key"
		c.Acquirer.Addr = "127.0.0.1:9583"
		c.Peers = []Peer{{ID: "n1", RaftAddr: "127.0.0.1:7001", RegisterAddr: "127.0.0.1:8583"}}
		return c
	}
	if c := good(); c.Validate() != nil {
		t.Fatalf("good config refused: %v", c.Validate())
	}
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.ID = "" }, "id is empty"},
		{func(c *Config) { c.CardKeyFile = "" }, "tillgate keygen"},
		{func(c *Config) { c.RaftAddr = "7001" }, "raft_addr"},
		{func(c *Config) { c.Peers[0].ID = "other" }, "do not list this node"},
		{func(c *Config) { c.MaxFrame = 70000 }, "max_frame"},
		{func(c *Config) { c.Acquirer.Addr = "" }, "acquirer.addr"},
		{func(c *Config) { c.APIAddr, c.ACSURL = "127.0.0.1:8080", "127.0.0.1:9585" }, "acs_url \"127.0.0.1:9585\": want http://host:port"},
		{func(c *Config) { c.ACSURL = "http://127.0.0.1:9585" }, "api_addr is not"},
	}
	for _, tc := range cases {
		c := good()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %q, got %v", tc.want, err)
		}
	}
}

// TestAdminTokens: tokens from their files, the older admin_token_file as
// the operator "admin", and what is refused.
func TestAdminTokens(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := Config{AdminTokens: []AdminToken{{Name: "ops", Role: "operator", File: write("ops", " ops-secret\n")}, {Name: "mon", Role: "read-only", Value: "mon-secret"}},
		AdminTokenFile: write("legacy", "legacy-secret\n")}
	got, err := c.adminTokens()
	want := []admin.Token{{Name: "ops", Role: admin.RoleOperator, Value: "ops-secret"}, {Name: "mon", Role: admin.RoleRead, Value: "mon-secret"},
		{Name: LegacyAdminTokenName, Role: admin.RoleOperator, Value: "legacy-secret"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("tokens %+v %v", got, err)
	}
	for _, tc := range []struct {
		tok  AdminToken
		want string
	}{
		{AdminToken{Name: "x", Role: "admin", Value: "v"}, "want read-only or operator"},
		{AdminToken{Name: "x", Role: "operator", File: write("empty", "\n")}, "is empty"},
		{AdminToken{Name: "x", Role: "operator", File: filepath.Join(dir, "missing")}, "no such file"},
		{AdminToken{Name: "x", Role: "operator"}, "set its file"},
	} {
		c := Config{AdminTokens: []AdminToken{tc.tok}}
		if _, err := c.adminTokens(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.tok, err, tc.want)
		}
	}
}
