package wire

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	"github.com/moov-io/iso8583/prefix"
)

// maxField is the highest data element of a primary+secondary bitmap.
const maxField = 128

// Each dialect is one moov-io/iso8583 MessageSpec, built once in NewCodec.
// The spec starts from iso8583.Spec87 (the field definitions of
// specs.Spec87ASCII, fields 2-64, 70 and 90; the specs package itself would
// pull in a YAML dependency the module does not have), adds the
// secondary fields of ISO 8583:1987 and overrides the ones tillgate uses.
// All data elements are ASCII in every dialect; only the bitmap differs.
//
// Binary data elements (DE52 PIN block, DE55 ICC data, DE64/DE96/DE128
// MACs) travel as upper-case hex characters, because the field data of the
// dialect is ASCII: DE52 is 16 hex characters, DE55 is LLLVAR whose length
// prefix counts the hex characters (always even, at most 998 = 499 bytes).
//
// The encoders and prefixers below are our own implementations of moov's
// encoding.Encoder and prefix.Prefixer: moov's ASCII prefixer accepts "+1"
// as a length, its ASCII encoder grows a slice per byte and its binary
// encoder copies the whole rest of the message. The codec's hot path walks
// the same definitions directly (see codec.go); tests check that moov's own
// iso8583.Message produces identical bytes with the spec.

// charset is the set of bytes an ASCII encoder accepts.
type charset struct {
	name string
	ok   [256]bool
}

func newCharset(name string, accept func(b byte) bool) *charset {
	cs := &charset{name: name}
	for i := range cs.ok {
		cs.ok[i] = accept(byte(i))
	}
	return cs
}

// Character classes of the data elements. Track 2 (z) allows the '='
// or 'D' separator; 'ans' is printable ASCII.
var (
	csNumeric = newCharset("n", func(b byte) bool { return b >= '0' && b <= '9' })
	csTrack2  = newCharset("z", func(b byte) bool { return b >= '0' && b <= '9' || b == '=' || b == 'D' })
	csText    = newCharset("ans", func(b byte) bool { return b >= 0x20 && b <= 0x7e })
	csHex     = newCharset("hex", func(b byte) bool {
		return b >= '0' && b <= '9' || b >= 'A' && b <= 'F' || b >= 'a' && b <= 'f'
	})
)

// firstBad returns the index of the first byte outside cs, or -1.
func (cs *charset) firstBad(b []byte) int {
	for i, c := range b {
		if !cs.ok[c] {
			return i
		}
	}
	return -1
}

func (cs *charset) firstBadString(s string) int {
	for i := 0; i < len(s); i++ {
		if !cs.ok[s[i]] {
			return i
		}
	}
	return -1
}

// textEncoder is an encoding.Encoder for ASCII data restricted to a charset.
// Decode returns a prefix of its input (no copy): the codec relies on it.
type textEncoder struct{ cs *charset }

var _ encoding.Encoder = (*textEncoder)(nil)

func (e *textEncoder) Encode(data []byte) ([]byte, error) {
	if i := e.cs.firstBad(data); i >= 0 {
		return nil, fmt.Errorf("%w: byte %d is not %s", ErrMalformed, i, e.cs.name)
	}
	return data, nil
}

func (e *textEncoder) Decode(data []byte, length int) ([]byte, int, error) {
	if length < 0 || length > len(data) {
		return nil, 0, fmt.Errorf("%w: need %d bytes, have %d", ErrMalformed, length, len(data))
	}
	v := data[:length]
	if i := e.cs.firstBad(v); i >= 0 {
		return nil, 0, fmt.Errorf("%w: byte %d is not %s", ErrMalformed, i, e.cs.name)
	}
	return v, length, nil
}

// hexEncoder carries binary data as upper-case hex characters; lengths given
// to Decode are in bytes of binary data.
type hexEncoder struct{}

var _ encoding.Encoder = hexEncoder{}

func (hexEncoder) Encode(data []byte) ([]byte, error) {
	return appendHexUpper(nil, data), nil
}

func (hexEncoder) Decode(data []byte, length int) ([]byte, int, error) {
	if length < 0 || 2*length > len(data) {
		return nil, 0, fmt.Errorf("%w: need %d hex bytes, have %d", ErrMalformed, 2*length, len(data))
	}
	out := make([]byte, length)
	if _, err := hex.Decode(out, data[:2*length]); err != nil {
		return nil, 0, fmt.Errorf("%w: bad hex data", ErrMalformed)
	}
	return out, 2 * length, nil
}

func appendHexUpper(dst, src []byte) []byte {
	const digits = "0123456789ABCDEF"
	for _, b := range src {
		dst = append(dst, digits[b>>4], digits[b&0x0f])
	}
	return dst
}

// rawEncoder is the binary bitmap: bytes as they are. Unlike moov's
// encoding.Binary it copies only what it returns.
type rawEncoder struct{}

var _ encoding.Encoder = rawEncoder{}

func (rawEncoder) Encode(data []byte) ([]byte, error) { return append([]byte(nil), data...), nil }

func (rawEncoder) Decode(data []byte, length int) ([]byte, int, error) {
	if length < 0 || length > len(data) {
		return nil, 0, fmt.Errorf("%w: need %d bytes, have %d", ErrMalformed, length, len(data))
	}
	return append([]byte(nil), data[:length]...), length, nil
}

// lengthPrefix is a prefix.Prefixer: fixed (digits == 0) or an ASCII
// decimal length of 'digits' digits, strictly digits. unit is the number
// of transmitted characters per unit of field length: 2 for binary fields
// carried as hex (the prefix counts characters, the spec length bytes).
type lengthPrefix struct {
	digits int
	unit   int
	// encoded holds every length 0..10^digits-1 pre-formatted so that
	// EncodeLength does not allocate.
	encoded string
}

var _ prefix.Prefixer = (*lengthPrefix)(nil)

func newLengthPrefix(digits, unit int) *lengthPrefix {
	p := &lengthPrefix{digits: digits, unit: unit}
	if digits > 0 {
		n := 1
		for range digits {
			n *= 10
		}
		var sb strings.Builder
		sb.Grow(n * digits)
		for i := range n {
			fmt.Fprintf(&sb, "%0*d", digits, i)
		}
		p.encoded = sb.String()
	}
	return p
}

// appendLength appends the prefix for a value of dataLen units. Its errors
// are the packer's, so they wrap ErrInvalidField.
func (p *lengthPrefix) appendLength(dst []byte, maxLen, dataLen int) ([]byte, error) {
	if p.digits == 0 {
		if dataLen != maxLen {
			return dst, fmt.Errorf("%w: length %d, fixed %d", ErrInvalidField, dataLen, maxLen)
		}
		return dst, nil
	}
	if dataLen > maxLen {
		return dst, fmt.Errorf("%w: length %d over max %d", ErrInvalidField, dataLen, maxLen)
	}
	n := dataLen * p.unit
	if n*p.digits >= len(p.encoded) {
		return dst, fmt.Errorf("%w: length %d does not fit %d digits", ErrInvalidField, n, p.digits)
	}
	return append(dst, p.encoded[n*p.digits:(n+1)*p.digits]...), nil
}

func (p *lengthPrefix) EncodeLength(maxLen, dataLen int) ([]byte, error) {
	return p.appendLength(nil, maxLen, dataLen)
}

// DecodeLength returns the field length in spec units and the prefix size.
func (p *lengthPrefix) DecodeLength(maxLen int, data []byte) (int, int, error) {
	if p.digits == 0 {
		return maxLen, 0, nil
	}
	n, err := p.parse(data)
	if err != nil {
		return 0, 0, err
	}
	if n%p.unit != 0 {
		return 0, 0, fmt.Errorf("%w: odd hex length %d", ErrMalformed, n)
	}
	if n/p.unit > maxLen {
		return 0, 0, fmt.Errorf("%w: length %d over max %d", ErrMalformed, n/p.unit, maxLen)
	}
	return n / p.unit, p.digits, nil
}

// parse reads the raw prefix value (transmitted characters).
func (p *lengthPrefix) parse(data []byte) (int, error) {
	if len(data) < p.digits {
		return 0, fmt.Errorf("%w: truncated length prefix", ErrMalformed)
	}
	n := 0
	for _, c := range data[:p.digits] {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: non-digit length prefix", ErrMalformed)
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

func (p *lengthPrefix) Inspect() string {
	if p.digits == 0 {
		return "ASCII.Fixed"
	}
	return "ASCII." + strings.Repeat("L", p.digits)
}

// kind is how a data element is carried.
type kind uint8

const (
	kindNone kind = iota // not defined in the dialect
	kindText             // ASCII characters of a charset
	kindHex              // binary as hex characters
)

// fieldDef is the codec's view of one moov field spec.
type fieldDef struct {
	kind kind
	max  int // spec Length: characters, or bytes for kindHex
	pref *lengthPrefix
	cs   *charset // kindText
}

// chars is the number of transmitted characters of a fixed field.
func (f *fieldDef) chars() int {
	if f.kind == kindHex {
		return 2 * f.max
	}
	return f.max
}

// dialectSpec is a moov spec and the codec's table derived from it.
type dialectSpec struct {
	spec *iso8583.MessageSpec
	defs [maxField + 1]fieldDef
}

// fieldFormat describes one data element for buildSpec.
type fieldFormat struct {
	desc   string
	length int // characters, or bytes for hex
	digits int // 0 fixed, 2 LLVAR, 3 LLLVAR
	cs     *charset
	hex    bool
}

// overrides are the data elements tillgate uses (and the secondary fields
// Spec87 lacks), in ISO 8583:1987 formats.
var overrides = map[int]fieldFormat{
	2:   {desc: "Primary Account Number", length: 19, digits: 2, cs: csNumeric},
	3:   {desc: "Processing Code", length: 6, cs: csNumeric},
	4:   {desc: "Transaction Amount", length: 12, cs: csNumeric},
	7:   {desc: "Transmission Date & Time", length: 10, cs: csNumeric},
	11:  {desc: "Systems Trace Audit Number", length: 6, cs: csNumeric},
	12:  {desc: "Local Transaction Time", length: 6, cs: csNumeric},
	13:  {desc: "Local Transaction Date", length: 4, cs: csNumeric},
	14:  {desc: "Expiration Date", length: 4, cs: csNumeric},
	22:  {desc: "Point of Sale Entry Mode", length: 3, cs: csNumeric},
	25:  {desc: "Point of Sale Condition Code", length: 2, cs: csNumeric},
	35:  {desc: "Track 2 Data", length: 37, digits: 2, cs: csTrack2},
	37:  {desc: "Retrieval Reference Number", length: 12, cs: csText},
	38:  {desc: "Authorization Identification Response", length: 6, cs: csText},
	39:  {desc: "Response Code", length: 2, cs: csText},
	41:  {desc: "Card Acceptor Terminal Identification", length: 8, cs: csText},
	42:  {desc: "Card Acceptor Identification Code", length: 15, cs: csText},
	48:  {desc: "Additional Data (Private)", length: 999, digits: 3, cs: csText},
	49:  {desc: "Transaction Currency Code", length: 3, cs: csNumeric},
	52:  {desc: "PIN Data", length: 8, hex: true},
	54:  {desc: "Additional Amounts", length: 120, digits: 3, cs: csText},
	55:  {desc: "ICC Data", length: 499, digits: 3, hex: true},
	64:  {desc: "Message Authentication Code", length: 8, hex: true},
	66:  {desc: "Settlement Code", length: 1, cs: csNumeric},
	67:  {desc: "Extended Payment Code", length: 2, cs: csNumeric},
	68:  {desc: "Receiving Institution Country Code", length: 3, cs: csNumeric},
	69:  {desc: "Settlement Institution Country Code", length: 3, cs: csNumeric},
	70:  {desc: "Network Management Information Code", length: 3, cs: csNumeric},
	71:  {desc: "Message Number", length: 4, cs: csNumeric},
	72:  {desc: "Message Number Last", length: 4, cs: csNumeric},
	73:  {desc: "Date Action", length: 6, cs: csNumeric},
	74:  {desc: "Credits, Number", length: 10, cs: csNumeric},
	75:  {desc: "Credits, Reversal Number", length: 10, cs: csNumeric},
	76:  {desc: "Debits, Number", length: 10, cs: csNumeric},
	77:  {desc: "Debits, Reversal Number", length: 10, cs: csNumeric},
	78:  {desc: "Transfer, Number", length: 10, cs: csNumeric},
	79:  {desc: "Transfer, Reversal Number", length: 10, cs: csNumeric},
	80:  {desc: "Inquiries, Number", length: 10, cs: csNumeric},
	81:  {desc: "Authorizations, Number", length: 10, cs: csNumeric},
	82:  {desc: "Credits, Processing Fee Amount", length: 12, cs: csNumeric},
	83:  {desc: "Credits, Transaction Fee Amount", length: 12, cs: csNumeric},
	84:  {desc: "Debits, Processing Fee Amount", length: 12, cs: csNumeric},
	85:  {desc: "Debits, Transaction Fee Amount", length: 12, cs: csNumeric},
	86:  {desc: "Credits, Amount", length: 16, cs: csNumeric},
	87:  {desc: "Credits, Reversal Amount", length: 16, cs: csNumeric},
	88:  {desc: "Debits, Amount", length: 16, cs: csNumeric},
	89:  {desc: "Debits, Reversal Amount", length: 16, cs: csNumeric},
	90:  {desc: "Original Data Elements", length: 42, cs: csNumeric},
	91:  {desc: "File Update Code", length: 1, cs: csText},
	92:  {desc: "File Security Code", length: 2, cs: csText},
	93:  {desc: "Response Indicator", length: 5, cs: csText},
	94:  {desc: "Service Indicator", length: 7, cs: csText},
	95:  {desc: "Replacement Amounts", length: 42, cs: csText},
	96:  {desc: "Message Security Code", length: 8, hex: true},
	97:  {desc: "Amount, Net Settlement", length: 17, cs: csText},
	98:  {desc: "Payee", length: 25, cs: csText},
	99:  {desc: "Settlement Institution Identification Code", length: 11, digits: 2, cs: csNumeric},
	100: {desc: "Receiving Institution Identification Code", length: 11, digits: 2, cs: csNumeric},
	101: {desc: "File Name", length: 17, digits: 2, cs: csText},
	102: {desc: "Account Identification 1", length: 28, digits: 2, cs: csText},
	103: {desc: "Account Identification 2", length: 28, digits: 2, cs: csText},
	104: {desc: "Transaction Description", length: 100, digits: 3, cs: csText},
	128: {desc: "Message Authentication Code", length: 8, hex: true},
}

// formatFromMoov converts a Spec87 field to our format.
func formatFromMoov(f field.Field) (fieldFormat, error) {
	s := f.Spec()
	ff := fieldFormat{desc: s.Description, length: s.Length, cs: csText}
	switch s.Pref.Inspect() {
	case "ASCII.Fixed":
	case "ASCII.LL":
		ff.digits = 2
	case "ASCII.LLL":
		ff.digits = 3
	case "Hex.Fixed":
		ff.hex = true
	default:
		return ff, fmt.Errorf("wire: unexpected prefixer %s", s.Pref.Inspect())
	}
	return ff, nil
}

// buildSpec returns the moov spec of a dialect and its field table.
func buildSpec(bitmap BitmapEncoding) (*dialectSpec, error) {
	formats := make(map[int]fieldFormat, maxField)
	for id, f := range iso8583.Spec87.Fields {
		if id < 2 {
			continue
		}
		ff, err := formatFromMoov(f)
		if err != nil {
			return nil, err
		}
		formats[id] = ff
	}
	for id := 105; id < 128; id++ {
		formats[id] = fieldFormat{desc: "Reserved", length: 999, digits: 3, cs: csText}
	}
	for id, ff := range overrides {
		formats[id] = ff
	}

	ds := &dialectSpec{spec: &iso8583.MessageSpec{
		Name:   "tillgate ISO 8583:1987 ASCII",
		Fields: make(map[int]field.Field, len(formats)+2),
	}}
	ds.spec.Fields[0] = field.NewString(&field.Spec{
		Length: 4, Description: "Message Type Indicator",
		Enc: &textEncoder{cs: csNumeric}, Pref: newLengthPrefix(0, 1),
	})
	bm := &field.Spec{Length: 8, Description: "Bitmap", Enc: rawEncoder{}, Pref: prefix.Binary.Fixed}
	if bitmap == BitmapHex {
		bm.Enc, bm.Pref = hexEncoder{}, prefix.Hex.Fixed
		ds.spec.Name += " (hex bitmap)"
	}
	ds.spec.Fields[1] = field.NewBitmap(bm)

	// Prefixers are shared by the fields of one spec (they are immutable).
	prefs := map[[2]int]*lengthPrefix{}
	pref := func(digits, unit int) *lengthPrefix {
		k := [2]int{digits, unit}
		if prefs[k] == nil {
			prefs[k] = newLengthPrefix(digits, unit)
		}
		return prefs[k]
	}
	for id, ff := range formats {
		if id == 65 {
			// Bit 65 marks a third bitmap for moov; tillgate has none.
			continue
		}
		s := &field.Spec{Length: ff.length, Description: ff.desc}
		def := fieldDef{kind: kindText, max: ff.length, cs: ff.cs}
		if ff.hex {
			def.kind, def.cs = kindHex, nil
			def.pref = pref(ff.digits, 2)
			s.Enc, s.Pref = hexEncoder{}, def.pref
			ds.spec.Fields[id] = field.NewBinary(s)
		} else {
			def.pref = pref(ff.digits, 1)
			s.Enc, s.Pref = &textEncoder{cs: ff.cs}, def.pref
			ds.spec.Fields[id] = field.NewString(s)
		}
		ds.defs[id] = def
	}
	if err := ds.spec.Validate(); err != nil {
		return nil, fmt.Errorf("wire: spec: %w", err)
	}
	return ds, nil
}
