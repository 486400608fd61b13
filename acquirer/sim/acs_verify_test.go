package sim

import (
	"fmt"
	"testing"

	"github.com/tillgate/tillgate/wire"
)

// TestAuthenticationValue: with an ACS, a card-not-present authorization
// of a challenge-range card is approved only with the value the ACS issued
// when that card's challenge for that amount passed; a repeat keeps its
// answer, another authorization cannot reuse the value, and refunds,
// card-present requests and cards outside the ranges need none.
func TestAuthenticationValue(t *testing.T) {
	acs := NewACS(ACSConfig{Ranges: []string{"400000"}, Code: "123456"})
	s := mustOpen(t, Config{ACS: acs})
	h := acs.Handler()
	const card = "4000000000000010"
	_, a := acsCall(t, h, "/acs/v1/authentications", `{"pan":"`+card+`","amount":4990,"currency":"EUR","merchant":"m"}`)
	_, ok := acsCall(t, h, "/acs/v1/authentications/"+a.ID+"/challenge", `{"code":"123456"}`)
	if ok.Status != ACSAuthenticated || len(ok.AuthenticationValue) != 28 || ok.ECI != ECIAuthenticated {
		t.Fatalf("passed challenge: %+v", ok)
	}
	if _, again := acsCall(t, h, "/acs/v1/authentications/"+a.ID+"/challenge", `{"code":"123456"}`); again.AuthenticationValue != ok.AuthenticationValue {
		t.Fatalf("a repeated challenge call gets another value: %+v", again)
	}
	// A challenge that failed issues nothing.
	_, f := acsCall(t, h, "/acs/v1/authentications", `{"pan":"`+card+`","amount":4990}`)
	for range 3 {
		acsCall(t, h, "/acs/v1/authentications/"+f.ID+"/challenge", `{"code":"999999"}`)
	}
	if _, r := acsCall(t, h, "/acs/v1/authentications/"+f.ID+"/challenge", `{"code":"123456"}`); r.Status != ACSFailed || r.AuthenticationValue != "" {
		t.Fatalf("failed challenge: %+v", r)
	}

	stan := 0
	auth := func(mti, pan, proc, cond string, amount int64, av, eci string) *wire.Message {
		stan++
		m := &wire.Message{MTI: mti, PAN: pan, ProcCode: proc, Amount: amount, HasAmount: true, STAN: fmt.Sprintf("%06d", stan),
			TransmissionTime: testDE7, TerminalID: "W0000001", MerchantID: "CNP000000000001", POSEntryMode: "810", POSCondition: cond}
		if av != "" {
			m.Private.Set(wire.TagAuthValue, av)
		}
		if eci != "" {
			m.Private.Set(wire.TagECI, eci)
		}
		return m
	}
	av := ok.AuthenticationValue
	cases := []struct {
		name string
		m    *wire.Message
		rc   string
	}{
		{"no value", auth("0100", card, "000000", "59", 4990, "", ""), RCAuthenticationRequired},
		{"a made-up value", auth("0200", card, "000000", "59", 4990, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "05"), RCAuthenticationRequired},
		{"another amount", auth("0100", card, "000000", "59", 5000, av, "05"), RCAuthenticationRequired},
		{"another card", auth("0100", "4000000000000028", "000000", "59", 4990, av, "05"), RCAuthenticationRequired},
		{"wrong eci", auth("0100", card, "000000", "59", 4990, av, "07"), RCAuthenticationRequired},
		{"the value", auth("0100", card, "000000", "59", 4990, av, "05"), wire.RCApproved},
		{"reused by another authorization", auth("0100", card, "000000", "59", 4990, av, "05"), RCAuthenticationRequired},
		{"a refund", auth("0200", card, "200000", "59", 4990, "", ""), wire.RCApproved},
		{"card present", auth("0200", card, "000000", "00", 4990, "", ""), wire.RCApproved},
		{"outside the ranges", auth("0100", "4761739001010119", "000000", "59", 4990, "", ""), wire.RCApproved},
	}
	var approved *wire.Message
	for _, c := range cases {
		r := s.financial(c.m, wire.OriginalMTI(c.m.MTI))
		if r.ResponseCode != c.rc {
			t.Errorf("%s: RC %s, want %s", c.name, r.ResponseCode, c.rc)
		}
		if c.name == "the value" {
			approved = c.m
		}
	}
	// The approved authorization's repeat (sent with the value, as the
	// node's retry sends it) gets its recorded answer.
	rep := *approved
	rep.MTI = "0101"
	if r := s.financial(&rep, wire.MTIAuth); r.ResponseCode != wire.RCApproved {
		t.Errorf("repeat: RC %s", r.ResponseCode)
	}
	if n := s.Stats().Unauthenticated; n != 6 {
		t.Errorf("Unauthenticated = %d, want 6", n)
	}
}
