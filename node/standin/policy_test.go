package standin

import (
	"encoding/hex"
	"testing"

	"github.com/tillgate/tillgate/node/bins"
	"github.com/tillgate/tillgate/store"
)

func TestPolicy(t *testing.T) {
	hash := []byte{0xab, 0xcd}
	p := Policy{
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
		NegativeBINs:   []bins.Range{{Low: "5555", High: "5559"}},
	}
	base := Case{Type: store.TypePurchase, Amount: 900, Merchant: "ANYSHOP", PAN: "4111111111111111", PANHash: []byte{1}, Acquirer: "acq"}
	tests := []struct {
		name string
		edit func(*Case)
		p    func(*Policy)
		want string
	}{
		{"within the default floor", nil, nil, ""},
		{"at the floor", func(c *Case) { c.Amount = 1000 }, nil, ""},
		{"over the floor", func(c *Case) { c.Amount = 1001 }, nil, RefusedFloor},
		{"disabled", nil, func(p *Policy) { p.Enabled = false }, RefusedDisabled},
		{"refund", func(c *Case) { c.Type = store.TypeRefund }, nil, RefusedType},
		{"balance", func(c *Case) { c.Type = store.TypeBalance; c.Amount = 0 }, nil, RefusedType},
		{"merchant limit lower", func(c *Case) { c.Merchant = "SMALLSHOP"; c.Amount = 201 }, nil, RefusedFloor},
		{"merchant limit higher", func(c *Case) { c.Merchant = "BIGSHOP"; c.Amount = 2500 }, nil, ""},
		{"merchant and MCC: the lower wins", func(c *Case) { c.Merchant = "BIGSHOP"; c.Amount = 3001 }, nil, RefusedFloor},
		{"MCC limit", func(c *Case) { c.Merchant = "GROCER"; c.Amount = 2000 }, nil, ""},
		{"MCC never", func(c *Case) { c.Merchant = "CASINO"; c.Amount = 1 }, nil, RefusedFloor},
		{"BIN range limit", func(c *Case) { c.PAN = "4012888888881881"; c.Amount = 401 }, nil, RefusedFloor},
		{"BIN range within", func(c *Case) { c.PAN = "4012888888881881"; c.Amount = 400 }, nil, ""},
		{"negative hash", func(c *Case) { c.PANHash = hash }, nil, RefusedNegative},
		{"negative BIN", func(c *Case) { c.PAN = "5556000000000000" }, nil, RefusedNegative},
		{"card count reached", func(c *Case) { c.Card = store.Sum{Count: 3, Amount: 300} }, nil, RefusedVelocity},
		{"card count below", func(c *Case) { c.Card = store.Sum{Count: 2, Amount: 300} }, nil, ""},
		{"card amount", func(c *Case) { c.Card = store.Sum{Count: 1, Amount: 1601} }, nil, RefusedVelocity},
		{"card amount exactly", func(c *Case) { c.Card = store.Sum{Count: 1, Amount: 1600} }, nil, ""},
		{"offline cap", func(c *Case) { c.Open = store.Sum{Count: 10, Amount: 9101} }, nil, RefusedCap},
		{"offline cap exactly", func(c *Case) { c.Open = store.Sum{Count: 10, Amount: 9100} }, nil, ""},
		{"per-acquirer cap", func(c *Case) { c.Acquirer = "tight" }, nil, RefusedCap},
		{"no velocity limits", func(c *Case) { c.Card = store.Sum{Count: 99, Amount: 99999} },
			func(p *Policy) { p.CardCount, p.CardAmount = 0, 0 }, ""},
		{"no cap", func(c *Case) { c.Open = store.Sum{Count: 99, Amount: 999999} },
			func(p *Policy) { p.OfflineCap = 0 }, ""},
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
			if got := pol.Decide(c); got != tc.want {
				t.Fatalf("Decide = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	bad := []Policy{
		{NegativeHashes: []string{"zz"}},
		{NegativeBINs: []bins.Range{{Low: "5", High: "49"}}},
		{BINLimits: []BINLimit{{Low: "49", High: "40"}}},
		{FloorLimit: -1},
	}
	for i, p := range bad {
		if p.Validate() == nil {
			t.Errorf("policy %d: accepted %+v", i, p)
		}
	}
	if err := (Policy{Enabled: true, NegativeBINs: []bins.Range{{Low: "4", High: "4"}}}).Validate(); err != nil {
		t.Errorf("good policy refused: %v", err)
	}
}

func TestReservations(t *testing.T) {
	p := &Policy{Enabled: true, FloorLimit: 1000, CardCount: 2}
	c := Case{Type: store.TypePurchase, Amount: 500, Acquirer: "acq"}
	r := NewReservations()
	why, release1 := r.Decide(p, c, "card")
	c.Amount = 300
	why2, release2 := r.Decide(p, c, "card")
	if why != "" || why2 != "" {
		t.Fatalf("refused %q %q", why, why2)
	}
	if r.card["card"] != (store.Sum{Count: 2, Amount: 800}) || r.acq["acq"] != r.card["card"] {
		t.Fatalf("reserved %v %v", r.card, r.acq)
	}
	if why, _ := r.Decide(p, c, "card"); why != RefusedVelocity {
		t.Fatalf("a third stand-in of the card while two are in progress: %q, want %q", why, RefusedVelocity)
	}
	release1()
	release2()
	if len(r.card) != 0 || len(r.acq) != 0 {
		t.Fatalf("released reservations left %v %v", r.card, r.acq)
	}
}
