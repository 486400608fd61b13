package node

import (
	"strings"
	"testing"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/node/upstream"
)

func TestAcquirersConfig(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.ID, c.DataDir, c.CardKeyFile = "n1", "/tmp/x", "/tmp/key"
		c.Acquirers = []AcquirerConfig{
			{Config: acquirer.Config{Name: "visa", Addr: "127.0.0.1:1"}, BINs: []BINRange{{Low: "4", High: "4"}}},
			{Config: acquirer.Config{Name: "mc", Addr: "127.0.0.1:2"}, BINs: []BINRange{{Low: "51", High: "55"}}, MaxInFlight: 10},
		}
		return c
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	list, def := c.acquirerList()
	if len(list) != 2 || def != "visa" {
		t.Fatalf("list %d, default %q", len(list), def)
	}
	r, _ := upstream.NewRouter(list, def)
	for pan, want := range map[string]string{"4111111111111111": "visa", "5500000000000004": "mc", "6011000000000004": "visa"} {
		if got := r.Lookup(pan); got != want {
			t.Errorf("%s routed to %s, want %s", pan, got, want)
		}
	}
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Acquirers[1].Name = "visa" }, "used twice"},
		{func(c *Config) { c.Acquirers[1].Name = "a|b" }, "without '|'"},
		{func(c *Config) { c.Acquirers[1].Addr = "" }, `acquirer "mc": addr is empty`},
		{func(c *Config) { c.DefaultAcquirer = "amex" }, `default_acquirer "amex"`},
		{func(c *Config) { c.Acquirers[0].BINs = []BINRange{{Low: "4", High: "41"}} }, "different lengths"},
		{func(c *Config) { c.Acquirers[0].MaxInFlight = -1 }, "max_in_flight"},
		{func(c *Config) { c.SAF.SkipAfter = 0 }, "skip_after"},
		{func(c *Config) { c.StandIn.FloorLimit = -5 }, "must not be negative"},
	}
	for _, tc := range cases {
		c := good()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %q, got %v", tc.want, err)
		}
	}
	// The single-acquirer form is the default and only acquirer.
	old := DefaultConfig()
	old.Acquirer.Addr = "127.0.0.1:9583"
	if list, def := old.acquirerList(); len(list) != 1 || def != "acquirer" || list[0].Addr != "127.0.0.1:9583" {
		t.Fatalf("single form: %+v default %q", list, def)
	}
}
