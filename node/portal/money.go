package portal

import (
	"fmt"
	"strconv"
	"strings"
)

// exponent is the minor unit digits of an ISO 4217 alpha code (2 unless
// the table says otherwise).
func exponent(currency string) int {
	switch currency {
	case "JPY":
		return 0
	}
	return 2
}

// decimal is minor units as a merchant types them: 1234 EUR is "12.34".
func decimal(minor int64, currency string) string {
	e := exponent(currency)
	if e == 0 {
		return strconv.FormatInt(minor, 10)
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	div := int64(1)
	for range e {
		div *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, minor/div, e, minor%div)
}

func money(minor int64, currency string) string { return decimal(minor, currency) + " " + currency }

// minorUnits reads an amount typed in major units ("12.34", "12,34", "12")
// as minor units of currency.
func minorUnits(s, currency string) (int64, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", ".")
	e := exponent(currency)
	whole, frac, dot := strings.Cut(s, ".")
	bad := fmt.Errorf("amount %q: want a positive amount like 12.34 (at most %d decimals)", s, e)
	if whole == "" || len(frac) > e || (dot && frac == "") || len(whole) > 12 {
		return 0, bad
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, bad
		}
	}
	frac += strings.Repeat("0", e-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n <= 0 {
		return 0, bad
	}
	return n, nil
}
