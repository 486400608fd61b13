package loadtest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Kinds of transactions a register sends.
const (
	KindPurchase = "purchase"
	KindRefund   = "refund"
	// TODO: pre-auth + completion, reversal, echo.
)

// Mix weighs the kinds of transactions; weights are relative.
type Mix struct {
	Purchase int `json:"purchase"`
	Refund   int `json:"refund"`
}

// DefaultMix is nine purchases to one refund.
func DefaultMix() Mix { return Mix{Purchase: 9, Refund: 1} }

// ParseMix reads "purchase=9,refund=1".
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return Mix{}, fmt.Errorf("loadtest: mix %q: want kind=weight", part)
		}
		switch k {
		case KindPurchase:
			m.Purchase = n
		case KindRefund:
			m.Refund = n
		default:
			return Mix{}, fmt.Errorf("loadtest: mix: unknown kind %q", k)
		}
	}
	return m, m.validate()
}

func (m Mix) validate() error {
	if m.Purchase < 0 || m.Refund < 0 || m.Purchase+m.Refund == 0 {
		return fmt.Errorf("loadtest: mix %+v: weights must be >= 0 with a positive sum", m)
	}
	return nil
}

// pick draws a kind.
func (m Mix) pick(rnd *rand.Rand) string {
	if rnd.IntN(m.Purchase+m.Refund) < m.Purchase {
		return KindPurchase
	}
	return KindRefund
}
