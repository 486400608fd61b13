package loadtest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Kinds of transactions a register sends.
const (
	KindPurchase   = "purchase"   // 0200 DE3 000000
	KindRefund     = "refund"     // 0200 DE3 200000
	KindPreAuth    = "preauth"    // 0100
	KindCompletion = "completion" // 0220, DE90 naming an approved pre-auth of the register
	KindReversal   = "reversal"   // 0400, DE90 naming an approved purchase of the register
	KindEcho       = "echo"       // 0800 DE70 301
)

// Kinds lists every kind in the order of Mix's fields.
var kinds = []string{KindPurchase, KindRefund, KindPreAuth, KindCompletion, KindReversal, KindEcho}

// Mix weighs the kinds of transactions; weights are relative. A completion
// completes the register's oldest approved pre-auth that is not completed
// yet, and a reversal reverses its latest approved purchase that is not
// reversed yet; a register with nothing to complete sends a pre-auth
// instead, and one with nothing to reverse a purchase (counted as what was
// sent), so the counts by kind can differ from the weights early in a run.
type Mix struct {
	Purchase   int `json:"purchase"`
	Refund     int `json:"refund"`
	PreAuth    int `json:"preauth"`
	Completion int `json:"completion"`
	Reversal   int `json:"reversal"`
	Echo       int `json:"echo"`
}

// DefaultMix is a retail day: mostly purchases, some refunds, pre-auths
// each followed by a completion, a few reversals and echoes.
func DefaultMix() Mix {
	return Mix{Purchase: 80, Refund: 5, PreAuth: 5, Completion: 5, Reversal: 2, Echo: 3}
}

// String is the ParseMix form of m.
func (m Mix) String() string {
	var parts []string
	for i, w := range m.weights() {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", kinds[i], w))
		}
	}
	return strings.Join(parts, ",")
}

func (m *Mix) weights() []int {
	return []int{m.Purchase, m.Refund, m.PreAuth, m.Completion, m.Reversal, m.Echo}
}

func (m *Mix) field(kind string) *int {
	switch kind {
	case KindPurchase:
		return &m.Purchase
	case KindRefund:
		return &m.Refund
	case KindPreAuth:
		return &m.PreAuth
	case KindCompletion:
		return &m.Completion
	case KindReversal:
		return &m.Reversal
	case KindEcho:
		return &m.Echo
	}
	return nil
}

// ParseMix reads "purchase=80,refund=5,preauth=5,completion=5,reversal=2,echo=3";
// kinds left out weigh 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return Mix{}, fmt.Errorf("loadtest: mix %q: want kind=weight", part)
		}
		f := m.field(k)
		if f == nil {
			return Mix{}, fmt.Errorf("loadtest: mix: unknown kind %q (want one of %s)", k, strings.Join(kinds, ", "))
		}
		*f = n
	}
	return m, m.validate()
}

func (m Mix) validate() error {
	sum := 0
	for _, w := range m.weights() {
		if w < 0 {
			return fmt.Errorf("loadtest: mix %v: weights must be >= 0", m)
		}
		sum += w
	}
	if sum == 0 {
		return fmt.Errorf("loadtest: mix %+v: the weights sum to 0", m)
	}
	return nil
}

// pick draws a kind.
func (m Mix) pick(rnd *rand.Rand) string {
	w := m.weights()
	sum := 0
	for _, x := range w {
		sum += x
	}
	n := rnd.IntN(sum)
	for i, x := range w {
		if n < x {
			return kinds[i]
		}
		n -= x
	}
	return KindPurchase
}
