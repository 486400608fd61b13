package wire

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Codec packs and unpacks the messages of one dialect. It is immutable
// after NewCodec and safe for concurrent use.
//
// The dialect is a moov-io/iso8583 MessageSpec (see spec.go). Unpack and
// Pack walk that spec's field definitions directly instead of going through
// iso8583.Message, which costs a map, a field instance and several
// allocations per data element; tests check both give the same bytes.
type Codec struct {
	d   Dialect
	ds  *dialectSpec
	err error // an invalid dialect: every call fails with it
}

// NewCodec builds the codec of d. An invalid dialect (see Dialect.Validate)
// yields a codec whose Pack and Unpack return that error.
func NewCodec(d Dialect) *Codec {
	c := &Codec{d: d}
	if err := d.Validate(); err != nil {
		c.err = err
		return c
	}
	ds, err := buildSpec(d.Bitmap)
	if err != nil {
		// buildSpec depends only on static tables; tests cover both dialects.
		c.err = err
		return c
	}
	c.ds = ds
	return c
}

// Dialect returns the codec's dialect.
func (c *Codec) Dialect() Dialect { return c.d }

// FormatError is a message that cannot be decoded or lacks what its MTI
// requires. MTI and STAN are set when they could be read, so that the
// caller can answer with RC(); otherwise it closes the connection. Error()
// never contains field values.
type FormatError struct {
	MTI   string // "" when unreadable
	STAN  string // DE11, "" when unreadable
	Field int    // the data element at fault; 0 the message itself, 1 the bitmap
	Err   error  // the cause; wraps ErrMalformed, ErrMissingField or ErrInvalidField
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("wire: format error (mti %q stan %q field %d): %v", e.MTI, e.STAN, e.Field, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// RC is the response code to answer with: 13 (invalid amount) when DE4 is
// present but bad, else 30 (format error, including a missing DE4).
func (e *FormatError) RC() string {
	if e.Field == 4 && !errors.Is(e.Err, ErrMissingField) {
		return RCInvalidAmount
	}
	return RCFormatError
}

// Unpack decodes one payload (without its length header). Bad input gives
// a *FormatError, never a panic. The Message does not alias payload, which
// may be reused after the call.
func (c *Codec) Unpack(payload []byte) (m *Message, err error) {
	defer func() {
		// Last line of defence: a bug must cost one message, not the node.
		if r := recover(); r != nil {
			m, err = nil, c.formatError(payload, 0, fmt.Errorf("%w: internal error: %v", ErrMalformed, r))
		}
	}()
	if c.err != nil {
		return nil, &FormatError{Err: c.err}
	}
	m, id, err := c.unpack(payload)
	if err != nil {
		return nil, c.formatError(payload, id, err)
	}
	return m, nil
}

func (c *Codec) formatError(payload []byte, id int, err error) *FormatError {
	mti, stan, _ := c.Peek(payload)
	return &FormatError{MTI: mti, STAN: stan, Field: id, Err: err}
}

// bitSet reports bit id (1-based, MSB first) of a bitmap.
func bitSet(bm *[16]byte, id int) bool {
	return bm[(id-1)/8]&(0x80>>((id-1)%8)) != 0
}

func setBit(bm *[16]byte, id int) {
	bm[(id-1)/8] |= 0x80 >> ((id - 1) % 8)
}

// readBitmap decodes the primary and, if bit 1 says so, the secondary
// bitmap at p[off:] and returns the offset after them.
func (c *Codec) readBitmap(p []byte, off int, bm *[16]byte) (int, error) {
	for i := 0; i < 2; i++ {
		if i == 1 && bm[0]&0x80 == 0 {
			break
		}
		dst := bm[8*i : 8*i+8]
		if c.d.Bitmap == BitmapHex {
			if len(p)-off < 16 {
				return 0, fmt.Errorf("%w: bitmap %d truncated", ErrMalformed, i+1)
			}
			if _, err := hex.Decode(dst, p[off:off+16]); err != nil {
				return 0, fmt.Errorf("%w: bitmap %d not hex", ErrMalformed, i+1)
			}
			off += 16
		} else {
			if len(p)-off < 8 {
				return 0, fmt.Errorf("%w: bitmap %d truncated", ErrMalformed, i+1)
			}
			copy(dst, p[off:off+8])
			off += 8
		}
	}
	return off, nil
}

// readField returns the bounds of the value of field f at p[off:] as
// transmitted (hex characters for binary fields), checked against the
// field's length and character set.
func (f *fieldDef) read(p []byte, off int) (start, end int, err error) {
	unit := 1
	cs := f.cs
	if f.kind == kindHex {
		unit, cs = 2, csHex
	}
	n := f.max * unit
	start = off
	if f.pref.digits > 0 {
		if n, err = f.pref.parse(p[off:]); err != nil {
			return 0, 0, err
		}
		if n > f.max*unit {
			return 0, 0, fmt.Errorf("%w: length %d over max %d", ErrMalformed, n, f.max*unit)
		}
		if n%unit != 0 {
			return 0, 0, fmt.Errorf("%w: odd hex length %d", ErrMalformed, n)
		}
		start += f.pref.digits
	}
	if len(p)-start < n {
		return 0, 0, fmt.Errorf("%w: %d bytes, %d left", ErrMalformed, n, len(p)-start)
	}
	end = start + n
	if i := cs.firstBad(p[start:end]); i >= 0 {
		return 0, 0, fmt.Errorf("%w: byte %d is not %s", ErrMalformed, i, cs.name)
	}
	return start, end, nil
}

// unpack returns the message or the field at fault and the cause.
func (c *Codec) unpack(p []byte) (*Message, int, error) {
	if len(p) < 4 {
		return nil, 0, fmt.Errorf("%w: %d bytes, no MTI", ErrMalformed, len(p))
	}
	if csNumeric.firstBad(p[:4]) >= 0 {
		return nil, 0, fmt.Errorf("%w: MTI not numeric", ErrMalformed)
	}
	var bm [16]byte
	off, err := c.readBitmap(p, 4, &bm)
	if err != nil {
		return nil, 1, err
	}
	// First walk the fields, recording where each value is.
	var spanBuf [40]span
	spans := spanBuf[:0]
	for id := 2; id <= maxField; id++ {
		if bm[(id-1)/8] == 0 {
			id += 7 - (id-1)%8 // skip the rest of an empty bitmap byte
			continue
		}
		if !bitSet(&bm, id) {
			continue
		}
		def := &c.ds.defs[id]
		if def.kind == kindNone {
			return nil, id, fmt.Errorf("%w: field %d not defined", ErrMalformed, id)
		}
		start, end, err := def.read(p, off)
		if err != nil {
			return nil, id, fmt.Errorf("field %d: %w", id, err)
		}
		spans = append(spans, span{id: id, start: start, end: end})
		off = end
	}
	if off != len(p) {
		return nil, 0, fmt.Errorf("%w: %d bytes after the last field", ErrMalformed, len(p)-off)
	}
	s := sharedText(p, spans)
	m := &Message{MTI: s[:4]}
	for _, sp := range spans {
		v := s[sp.start:sp.end]
		if cardField(sp.id) {
			v = string(p[sp.start:sp.end])
		}
		if err := assign(m, sp.id, v, p[sp.start:sp.end]); err != nil {
			return nil, sp.id, fmt.Errorf("field %d: %w", sp.id, err)
		}
	}
	return m, 0, nil
}

// span is where a field's value lies in the payload.
type span struct{ id, start, end int }

// cardField reports the fields of card data: the card number (DE2), its
// expiry (DE14), track 2 (DE35), the PIN block (DE52) and the chip's data
// (DE55).
func cardField(id int) bool { return id == 2 || id == 14 || id == 35 || id == 52 || id == 55 }

// sharedText returns one copy of the payload whose substrings become the
// text fields (one allocation for all of them). The card data fields
// (cardField) are blanked in it and get copies of their own (the PIN block
// and ICC are decoded from the payload), so a field kept for long (a STAN
// in a table, a terminal id in the status page's ring) does not keep a
// clear PAN, track, PIN block or chip data in memory.
func sharedText(p []byte, spans []span) string {
	var sb strings.Builder
	sb.Grow(len(p))
	at := 0
	for _, sp := range spans {
		if cardField(sp.id) {
			sb.Write(p[at:sp.start])
			for range sp.end - sp.start {
				sb.WriteByte(0)
			}
			at = sp.end
		}
	}
	sb.Write(p[at:])
	return sb.String()
}

// assign stores a checked field value; v and raw are the same bytes.
func assign(m *Message, id int, v string, raw []byte) error {
	var err error
	switch id {
	case 2:
		m.PAN = v
	case 3:
		m.ProcCode = v
	case 4:
		m.Amount, m.HasAmount = parseDigits(raw), true
	case 7:
		m.TransmissionTime = v
	case 11:
		m.STAN = v
	case 12:
		m.LocalTime = v
	case 13:
		m.LocalDate = v
	case 14:
		m.Expiry = v
	case 22:
		m.POSEntryMode = v
	case 25:
		m.POSCondition = v
	case 35:
		m.Track2 = v
	case 37:
		m.RRN = v
	case 38:
		m.AuthCode = v
	case 39:
		m.ResponseCode = v
	case 41:
		m.TerminalID = v
	case 42:
		m.MerchantID = v
	case 48:
		m.Private, err = ParseTLVs(v)
	case 49:
		m.Currency = v
	case 52:
		m.PINBlock, err = decodeHex(raw)
	case 54:
		m.AddAmounts = v
	case 55:
		m.ICC, err = decodeHex(raw)
	case 70:
		m.NetworkCode = v
	case 90:
		m.OriginalData = v
	case 74, 75, 76, 77, 86, 87, 88, 89, 97:
		err = assignTotal(m, id, raw)
	}
	return err
}

func assignTotal(m *Message, id int, raw []byte) error {
	if m.Totals == nil {
		m.Totals = &Totals{}
		m.totalsAbsent = 1<<len(totalsFields) - 1
	}
	t := m.Totals
	for i, f := range totalsFields {
		if f == id {
			m.totalsAbsent &^= 1 << i
		}
	}
	switch id {
	case 74:
		t.CreditsCount = parseDigits(raw)
	case 75:
		t.CreditsReversalCount = parseDigits(raw)
	case 76:
		t.DebitsCount = parseDigits(raw)
	case 77:
		t.DebitsReversalCount = parseDigits(raw)
	case 86:
		t.CreditsAmount = parseDigits(raw)
	case 87:
		t.CreditsReversalAmount = parseDigits(raw)
	case 88:
		t.DebitsAmount = parseDigits(raw)
	case 89:
		t.DebitsReversalAmount = parseDigits(raw)
	case 97:
		if csNumeric.firstBad(raw[1:]) >= 0 || raw[0] != 'C' && raw[0] != 'D' {
			return fmt.Errorf("%w: net amount is not C/D and 16 digits", ErrMalformed)
		}
		t.NetAmount = parseDigits(raw[1:])
		if raw[0] == 'D' {
			t.NetAmount = -t.NetAmount
		}
	}
	return nil
}

// parseDigits reads checked digits; at most 18 fit int64 without overflow,
// and the widest numeric field used is 16.
func parseDigits(b []byte) int64 {
	var n int64
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	return n
}

// decodeHex decodes checked hex characters; empty is absent (nil).
func decodeHex(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	out := make([]byte, len(b)/2)
	if _, err := hex.Decode(out, b); err != nil {
		return nil, fmt.Errorf("%w: bad hex", ErrMalformed)
	}
	return out, nil
}

// Peek reads the MTI and STAN (DE11) of a payload that may not unpack, so
// that a malformed request can still get a 30 answer. It only skips fields
// 2-10 by their lengths. ok reports both were read; mti is returned alone
// when only it is readable.
func (c *Codec) Peek(payload []byte) (mti, stan string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			stan, ok = "", false
		}
	}()
	return c.peek(payload)
}

// peek is Peek without the recover, so that the fuzzer sees any panic.
func (c *Codec) peek(p []byte) (mti, stan string, ok bool) {
	if c.err != nil || len(p) < 4 || csNumeric.firstBad(p[:4]) >= 0 {
		return "", "", false
	}
	mti = string(p[:4])
	var bm [16]byte
	off, err := c.readBitmap(p, 4, &bm)
	if err != nil {
		return mti, "", false
	}
	for id := 2; id < 11; id++ {
		if !bitSet(&bm, id) {
			continue
		}
		def := &c.ds.defs[id]
		n := def.chars()
		if def.pref.digits > 0 {
			if n, err = def.pref.parse(p[off:]); err != nil {
				return mti, "", false
			}
			off += def.pref.digits
		}
		if len(p)-off < n {
			return mti, "", false
		}
		off += n
	}
	if !bitSet(&bm, 11) || len(p)-off < 6 || csNumeric.firstBad(p[off:off+6]) >= 0 {
		return mti, "", false
	}
	return mti, string(p[off : off+6]), true
}

// Pack encodes m as a payload without length header.
func (c *Codec) Pack(m *Message) ([]byte, error) {
	return c.appendMessage(make([]byte, 0, 256), m)
}

// PackFrame appends the length header and the packed m to dst. On error
// dst is returned unchanged.
func (c *Codec) PackFrame(dst []byte, m *Message) ([]byte, error) {
	if c.err != nil {
		return dst, c.err
	}
	out, at, err := c.d.beginFrame(dst)
	if err != nil {
		return dst, err
	}
	if out, err = c.appendMessage(out, m); err != nil {
		return out[:at], err
	}
	return c.d.endFrame(out, at)
}

// itemKind is how a Message field is emitted.
type itemKind uint8

const (
	itemText  itemKind = iota // s, as is
	itemBytes                 // b, as hex
	itemNum                   // n, zero-padded to the field width
	itemNet                   // n, C/D sign and 16 digits (DE97)
	itemTLV                   // the Message's TLVs (DE48)
)

type packItem struct {
	id   int
	kind itemKind
	s    string
	b    []byte
	n    int64
}

// packList collects the present fields in ascending order.
type packList struct {
	items [40]packItem
	n     int
	bm    [16]byte
}

func (l *packList) add(it packItem) {
	l.items[l.n] = it
	l.n++
	setBit(&l.bm, it.id)
	if it.id > 64 {
		l.bm[0] |= 0x80
	}
}

func (l *packList) text(id int, s string) {
	if s != "" {
		l.add(packItem{id: id, kind: itemText, s: s})
	}
}

func (l *packList) bytes(id int, b []byte) {
	if len(b) > 0 {
		l.add(packItem{id: id, kind: itemBytes, b: b})
	}
}

func (l *packList) num(id int, n int64) { l.add(packItem{id: id, kind: itemNum, n: n}) }

// collect lists m's present fields; the order of the calls is the field order.
func collect(l *packList, m *Message) {
	l.text(2, m.PAN)
	l.text(3, m.ProcCode)
	if m.HasAmount {
		l.num(4, m.Amount)
	}
	l.text(7, m.TransmissionTime)
	l.text(11, m.STAN)
	l.text(12, m.LocalTime)
	l.text(13, m.LocalDate)
	l.text(14, m.Expiry)
	l.text(22, m.POSEntryMode)
	l.text(25, m.POSCondition)
	l.text(35, m.Track2)
	l.text(37, m.RRN)
	l.text(38, m.AuthCode)
	l.text(39, m.ResponseCode)
	l.text(41, m.TerminalID)
	l.text(42, m.MerchantID)
	if len(m.Private) > 0 {
		l.add(packItem{id: 48, kind: itemTLV})
	}
	l.text(49, m.Currency)
	l.bytes(52, m.PINBlock)
	l.text(54, m.AddAmounts)
	l.bytes(55, m.ICC)
	l.text(70, m.NetworkCode)
	if t := m.Totals; t != nil {
		for _, f := range [...]struct {
			id int
			n  int64
		}{
			{74, t.CreditsCount}, {75, t.CreditsReversalCount}, {76, t.DebitsCount}, {77, t.DebitsReversalCount},
			{86, t.CreditsAmount}, {87, t.CreditsReversalAmount}, {88, t.DebitsAmount}, {89, t.DebitsReversalAmount},
		} {
			if m.hasTotal(f.id) {
				l.num(f.id, f.n)
			}
		}
	}
	l.text(90, m.OriginalData)
	if t := m.Totals; t != nil && m.hasTotal(97) {
		l.add(packItem{id: 97, kind: itemNet, n: t.NetAmount})
	}
}

// appendMessage appends the payload of m to dst; on error it returns dst
// cut back to its original length.
func (c *Codec) appendMessage(dst []byte, m *Message) ([]byte, error) {
	if c.err != nil {
		return dst, c.err
	}
	if m == nil {
		return dst, fmt.Errorf("wire: pack: %w: nil message", ErrInvalidField)
	}
	if !validMTI(m.MTI) {
		return dst, fmt.Errorf("wire: pack: %w: MTI must be 4 digits", ErrInvalidField)
	}
	var l packList
	collect(&l, m)
	at := len(dst)
	out := append(dst, m.MTI...)
	nbm := 8
	if l.bm[0]&0x80 != 0 {
		nbm = 16
	}
	if c.d.Bitmap == BitmapHex {
		out = appendHexUpper(out, l.bm[:nbm])
	} else {
		out = append(out, l.bm[:nbm]...)
	}
	var err error
	for i := range l.n {
		it := &l.items[i]
		if out, err = c.appendItem(out, it, m); err != nil {
			return dst[:at], fmt.Errorf("wire: pack %s field %d: %w", m.MTI, it.id, err)
		}
	}
	return out, nil
}

func (c *Codec) appendItem(dst []byte, it *packItem, m *Message) ([]byte, error) {
	def := &c.ds.defs[it.id]
	var err error
	switch it.kind {
	case itemText:
		if i := def.cs.firstBadString(it.s); i >= 0 {
			return dst, fmt.Errorf("%w: byte %d is not %s", ErrInvalidField, i, def.cs.name)
		}
		if dst, err = def.pref.appendLength(dst, def.max, len(it.s)); err != nil {
			return dst, err
		}
		return append(dst, it.s...), nil
	case itemBytes:
		if dst, err = def.pref.appendLength(dst, def.max, len(it.b)); err != nil {
			return dst, err
		}
		return appendHexUpper(dst, it.b), nil
	case itemNum:
		return appendNum(dst, it.n, def.max)
	case itemNet:
		sign, n := byte('C'), it.n
		if n < 0 {
			if n == math.MinInt64 {
				return dst, fmt.Errorf("%w: net amount out of range", ErrInvalidField)
			}
			sign, n = 'D', -n
		}
		return appendNum(append(dst, sign), n, def.max-1)
	case itemTLV:
		if dst, err = def.pref.appendLength(dst, def.max, m.Private.encodedLen()); err != nil {
			return dst, err
		}
		return appendTLVs(dst, m.Private)
	}
	return dst, fmt.Errorf("%w: unknown item", ErrInvalidField)
}

// appendNum appends n as exactly width decimal digits.
func appendNum(dst []byte, n int64, width int) ([]byte, error) {
	if n < 0 {
		return dst, fmt.Errorf("%w: negative value", ErrInvalidField)
	}
	at := len(dst)
	for range width {
		dst = append(dst, '0')
	}
	for i := len(dst) - 1; i >= at && n > 0; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
	if n > 0 {
		return dst[:at], fmt.Errorf("%w: value over %d digits", ErrInvalidField, width)
	}
	return dst, nil
}
