package wire

import (
	"fmt"
	"strings"
)

// TLV is one entry of tillgate's private data in DE48: a 2-character tag,
// a 3-digit length and the value.
type TLV struct{ Tag, Value string }

// TLVs is the ordered content of DE48. Unknown tags are kept so that
// registers and future versions interoperate.
type TLVs []TLV

// DE48 tags.
const (
	TagActiveAddr = "AN" // the active node's register address, host:port
	TagNodeID     = "ND" // the id of the node that answered
	TagTerm       = "TM" // the Raft term of that active
	TagStandIn    = "SI" // present on stand-in approvals
	TagAcquirerUS = "AQ" // the acquirer round trip of this request, microseconds
	// TagNoActive is "1" when the answering node knows no active (it is
	// cut off from its peers, or an election is running): a client should
	// ask another node instead of resending here.
	TagNoActive = "NA"
	// TagCVC is the card verification code of a card-not-present request
	// (the CVC2/CVV2 printed on the card), for the acquirer to check. It
	// passes through the node to the acquirer and is never stored or
	// logged.
	TagCVC = "CV"
	// TagAuthValue is the authentication value the issuer's access control
	// server issued when the cardholder of a card-not-present payment
	// passed its challenge (3-D Secure's CAVV), and TagECI the electronic
	// commerce indicator that goes with it: the acquirer checks them. Like
	// the CVC they pass through the node and are never logged; the
	// payment's record keeps them for the authorization's retries.
	TagAuthValue = "AV"
	TagECI       = "EC"
)

// maxTLVValue is the largest value the 3-digit length can express.
const maxTLVValue = 999

// Get returns the value of the first entry with tag.
func (t TLVs) Get(tag string) (string, bool) {
	for _, e := range t {
		if e.Tag == tag {
			return e.Value, true
		}
	}
	return "", false
}

// Set replaces the value of the first entry with tag, or appends one.
func (t *TLVs) Set(tag, value string) {
	for i := range *t {
		if (*t)[i].Tag == tag {
			(*t)[i].Value = value
			return
		}
	}
	*t = append(*t, TLV{Tag: tag, Value: value})
}

// ParseTLVs decodes DE48. An empty string is no entries. Any structural
// problem (short tag or length, non-digit length, value past the end, bad
// characters) is an error wrapping ErrMalformed.
func ParseTLVs(s string) (TLVs, error) {
	if s == "" {
		return nil, nil
	}
	n := 0
	for i := 0; i < len(s); n++ {
		size, err := tlvAt(s, i)
		if err != nil {
			return nil, err
		}
		i += 5 + size
	}
	t := make(TLVs, 0, n)
	for i := 0; i < len(s); {
		size, _ := tlvAt(s, i)
		t = append(t, TLV{Tag: s[i : i+2], Value: s[i+5 : i+5+size]})
		i += 5 + size
	}
	return t, nil
}

// tlvAt checks the entry at s[i:] and returns its value length.
func tlvAt(s string, i int) (int, error) {
	if len(s)-i < 5 {
		return 0, fmt.Errorf("%w: DE48 entry at %d truncated", ErrMalformed, i)
	}
	if !validTag(s[i : i+2]) {
		return 0, fmt.Errorf("%w: DE48 bad tag at %d", ErrMalformed, i)
	}
	size := 0
	for _, c := range []byte(s[i+2 : i+5]) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: DE48 non-digit length at %d", ErrMalformed, i)
		}
		size = size*10 + int(c-'0')
	}
	if len(s)-i-5 < size {
		return 0, fmt.Errorf("%w: DE48 value at %d longer than the field", ErrMalformed, i)
	}
	if csText.firstBadString(s[i+5:i+5+size]) >= 0 {
		return 0, fmt.Errorf("%w: DE48 value at %d not printable", ErrMalformed, i)
	}
	return size, nil
}

// validTag accepts two upper-case letters or digits.
func validTag(tag string) bool {
	if len(tag) != 2 {
		return false
	}
	for i := range 2 {
		c := tag[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// String returns the DE48 encoding. It does not check the entries; Pack
// refuses a Message whose TLVs are invalid (bad tag, value over 999
// characters or not printable ASCII).
func (t TLVs) String() string {
	var sb strings.Builder
	sb.Grow(t.encodedLen())
	for _, e := range t {
		sb.WriteString(e.Tag)
		fmt.Fprintf(&sb, "%03d", len(e.Value))
		sb.WriteString(e.Value)
	}
	return sb.String()
}

func (t TLVs) encodedLen() int {
	n := 0
	for _, e := range t {
		n += 5 + len(e.Value)
	}
	return n
}

// appendTLVs appends the checked encoding of t.
func appendTLVs(dst []byte, t TLVs) ([]byte, error) {
	for _, e := range t {
		if !validTag(e.Tag) {
			return dst, fmt.Errorf("%w: DE48 bad tag", ErrInvalidField)
		}
		if len(e.Value) > maxTLVValue || csText.firstBadString(e.Value) >= 0 {
			return dst, fmt.Errorf("%w: DE48 tag %s value", ErrInvalidField, e.Tag)
		}
		n := len(e.Value)
		dst = append(dst, e.Tag...)
		dst = append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
		dst = append(dst, e.Value...)
	}
	return dst, nil
}
