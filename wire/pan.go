package wire

import "strings"

// MaskPAN keeps the first 6 and last 4 characters and masks the rest, e.g.
// "4111111111111111" -> "411111******1111". Input shorter than 12 characters
// (no valid PAN) is fully masked. It is the only form of a PAN to log.
func MaskPAN(pan string) string {
	if len(pan) < 12 {
		return strings.Repeat("*", len(pan))
	}
	return pan[:6] + strings.Repeat("*", len(pan)-10) + pan[len(pan)-4:]
}

// ValidatePAN reports 12 to 19 digits with a valid Luhn check digit.
func ValidatePAN(pan string) bool {
	if len(pan) < 12 || len(pan) > 19 || !isDigits(pan) {
		return false
	}
	sum := 0
	double := false
	for i := len(pan) - 1; i >= 0; i-- {
		d := int(pan[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
