package node

import (
	"strings"
	"testing"
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
