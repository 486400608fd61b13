package node

import (
	"encoding/hex"
	"testing"

	"github.com/tillgate/tillgate/store"
)

func TestStandInPolicy(t *testing.T) {
	hash := []byte{0xab, 0xcd}
	p := StandInPolicy{
		Enabled:        true,
		FloorLimit:     1000,
		MerchantLimits: map[string]int64{"SMALLSHOP": 200, "BIGSHOP": 5000},
		MCCLimits:      map[string]int64{"5411": 3000, "7995": 0},
		MerchantMCC:    map[string]string{"GROCER": "5411", "CASINO": "7995", "BIGSHOP": "5411"},
		BINLimits:      []BINLimit{{Low: "4000", High: "4099", Limit: 400}},
		CardCount:      3,
		CardAmount:     2500,
		OfflineCap:     10000,
		AcquirerCaps:   map[string]int64{"tight": 600},
		NegativeHashes: []string{hex.EncodeToString(hash)},
		NegativeBINs:   []BINRange{{Low: "5555", High: "5559"}},
	}
	base := standInCase{Type: store.TypePurchase, Amount: 900, Merchant: "ANYSHOP", PAN: "4111111111111111", PANHash: []byte{1}, Acquirer: "acq"}
	tests := []struct {
		name string
		edit func(*standInCase)
		p    func(*StandInPolicy)
		want string
	}{
		{"within the default floor", nil, nil, ""},
		{"at the floor", func(c *standInCase) { c.Amount = 1000 }, nil, ""},
		{"over the floor", func(c *standInCase) { c.Amount = 1001 }, nil, standInFloor},
		{"disabled", nil, func(p *StandInPolicy) { p.Enabled = false }, standInOff},
		{"refund", func(c *standInCase) { c.Type = store.TypeRefund }, nil, standInType},
		{"balance", func(c *standInCase) { c.Type = store.TypeBalance; c.Amount = 0 }, nil, standInType},
		{"merchant limit lower", func(c *standInCase) { c.Merchant = "SMALLSHOP"; c.Amount = 201 }, nil, standInFloor},
		{"merchant limit higher", func(c *standInCase) { c.Merchant = "BIGSHOP"; c.Amount = 2500 }, nil, ""},
		{"merchant and MCC: the lower wins", func(c *standInCase) { c.Merchant = "BIGSHOP"; c.Amount = 3001 }, nil, standInFloor},
		{"MCC limit", func(c *standInCase) { c.Merchant = "GROCER"; c.Amount = 2000 }, nil, ""},
		{"MCC never", func(c *standInCase) { c.Merchant = "CASINO"; c.Amount = 1 }, nil, standInFloor},
		{"BIN range limit", func(c *standInCase) { c.PAN = "4012888888881881"; c.Amount = 401 }, nil, standInFloor},
		{"BIN range within", func(c *standInCase) { c.PAN = "4012888888881881"; c.Amount = 400 }, nil, ""},
		{"negative hash", func(c *standInCase) { c.PANHash = hash }, nil, standInNegative},
		{"negative BIN", func(c *standInCase) { c.PAN = "5556000000000000" }, nil, standInNegative},
		{"card count reached", func(c *standInCase) { c.Card = store.Sum{Count: 3, Amount: 300} }, nil, standInVelocity},
		{"card count below", func(c *standInCase) { c.Card = store.Sum{Count: 2, Amount: 300} }, nil, ""},
		{"card amount", func(c *standInCase) { c.Card = store.Sum{Count: 1, Amount: 1601} }, nil, standInVelocity},
		{"card amount exactly", func(c *standInCase) { c.Card = store.Sum{Count: 1, Amount: 1600} }, nil, ""},
		{"offline cap", func(c *standInCase) { c.Open = store.Sum{Count: 10, Amount: 9101} }, nil, standInCap},
		{"offline cap exactly", func(c *standInCase) { c.Open = store.Sum{Count: 10, Amount: 9100} }, nil, ""},
		{"per-acquirer cap", func(c *standInCase) { c.Acquirer = "tight" }, nil, standInCap},
		{"no velocity limits", func(c *standInCase) { c.Card = store.Sum{Count: 99, Amount: 99999} },
			func(p *StandInPolicy) { p.CardCount, p.CardAmount = 0, 0 }, ""},
		{"no cap", func(c *standInCase) { c.Open = store.Sum{Count: 99, Amount: 999999} },
			func(p *StandInPolicy) { p.OfflineCap = 0 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, pol := base, p
			if tc.edit != nil {
				tc.edit(&c)
			}
			if tc.p != nil {
				tc.p(&pol)
			}
			if got := pol.decide(c); got != tc.want {
				t.Fatalf("decide = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStandInPolicyValidate(t *testing.T) {
	bad := []StandInPolicy{
		{NegativeHashes: []string{"zz"}},
		{NegativeBINs: []BINRange{{Low: "5", High: "49"}}},
		{BINLimits: []BINLimit{{Low: "49", High: "40"}}},
		{FloorLimit: -1},
	}
	for i, p := range bad {
		if p.Validate() == nil {
			t.Errorf("policy %d: accepted %+v", i, p)
		}
	}
	if err := (StandInPolicy{Enabled: true, NegativeBINs: []BINRange{{Low: "4", High: "4"}}}).Validate(); err != nil {
		t.Errorf("good policy refused: %v", err)
	}
}

func TestStandInReservations(t *testing.T) {
	s := newStandIns()
	s.add("card", "acq", 500, 1)
	s.add("card", "acq", 300, 1)
	if c, o := s.pending("card", "acq"); c != (store.Sum{Count: 2, Amount: 800}) || o != c {
		t.Fatalf("pending %v %v", c, o)
	}
	s.add("card", "acq", 500, -1)
	s.add("card", "acq", 300, -1)
	if len(s.card) != 0 || len(s.acq) != 0 {
		t.Fatalf("released reservations left %v %v", s.card, s.acq)
	}
}

func TestStandInAuthCode(t *testing.T) {
	if got := standInAuthCode(&store.Txn{AcqSTAN: "123456"}); got != "S23456" {
		t.Fatalf("auth code %q", got)
	}
}
