// Package bins is card ranges as the node's config names them: acquirer
// routing and the stand-in policy's limits and negative list.
package bins

// Range is a range of card prefixes of equal length: {"4", "4"} is every
// card starting with 4, {"510000", "559999"} a six-digit range.
type Range struct{ Low, High string }

// Contains reports whether pan's prefix of the bounds' length is in r.
func (r Range) Contains(pan string) bool {
	if len(pan) < len(r.Low) {
		return false
	}
	p := pan[:len(r.Low)]
	return p >= r.Low && p <= r.High
}
