package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BitmapEncoding selects how the primary and secondary bitmaps travel.
type BitmapEncoding int

// Bitmap encodings.
const (
	BitmapBinary BitmapEncoding = iota // 8 raw bytes per bitmap (default)
	BitmapHex                          // 16 hex characters per bitmap
)

// HeaderKind selects the frame length header.
type HeaderKind int

// Header kinds.
const (
	HeaderBinary2 HeaderKind = iota // 2-byte big-endian length (default)
	HeaderASCII4                    // 4 ASCII digits
)

// DefaultMaxFrame is the payload limit when Dialect.MaxFrame is 0.
const DefaultMaxFrame = 4096

// Dialect is the wire format of one listener or link. The zero value is
// the default dialect.
type Dialect struct {
	Bitmap   BitmapEncoding
	Header   HeaderKind
	MaxFrame int // payload max in bytes; 0 means DefaultMaxFrame
}

// Errors. The framing errors (ErrFrameTooLarge, ErrEmptyFrame, ErrBadHeader)
// mean the byte stream cannot be resynchronised: close the connection.
var (
	ErrFrameTooLarge  = errors.New("wire: frame too large")
	ErrEmptyFrame     = errors.New("wire: empty frame")
	ErrBadHeader      = errors.New("wire: bad length header")
	ErrInvalidDialect = errors.New("wire: invalid dialect")
	// ErrMalformed is the cause wrapped by a FormatError from Unpack and
	// the error of ParseTLVs.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrMissingField is wrapped by ValidateRequest's FormatError.
	ErrMissingField = errors.New("wire: missing field")
	// ErrInvalidField is a field present but ill-formed (ValidateRequest, Pack).
	ErrInvalidField = errors.New("wire: invalid field")
)

// DefaultDialect is a binary bitmap with a 2-byte header and 4 KiB frames.
func DefaultDialect() Dialect {
	return Dialect{Bitmap: BitmapBinary, Header: HeaderBinary2, MaxFrame: DefaultMaxFrame}
}

// headerLen is the size of the length header.
func (d Dialect) headerLen() int {
	if d.Header == HeaderASCII4 {
		return 4
	}
	return 2
}

// headerMax is the largest length the header can express.
func (d Dialect) headerMax() int {
	if d.Header == HeaderASCII4 {
		return 9999
	}
	return 0xFFFF
}

func (d Dialect) maxFrame() int {
	if d.MaxFrame <= 0 {
		return DefaultMaxFrame
	}
	return d.MaxFrame
}

// Validate reports a dialect this package cannot speak.
func (d Dialect) Validate() error {
	switch {
	case d.Bitmap != BitmapBinary && d.Bitmap != BitmapHex:
		return fmt.Errorf("%w: bitmap encoding %d", ErrInvalidDialect, d.Bitmap)
	case d.Header != HeaderBinary2 && d.Header != HeaderASCII4:
		return fmt.Errorf("%w: header kind %d", ErrInvalidDialect, d.Header)
	case d.MaxFrame < 0:
		return fmt.Errorf("%w: negative max frame %d", ErrInvalidDialect, d.MaxFrame)
	case d.maxFrame() > d.headerMax():
		return fmt.Errorf("%w: max frame %d does not fit the header (max %d)",
			ErrInvalidDialect, d.MaxFrame, d.headerMax())
	}
	return nil
}

// Next looks at the start of buf. It returns (nil, 0, nil) when buf does not
// yet hold a whole frame; otherwise the payload (aliasing buf: the caller
// copies it before reusing buf) and n, the header plus payload bytes to
// consume. An error means the stream is unusable: close the connection.
// A reading loop uses a FrameReader (or a FrameDecoder), which keeps the
// state of a frame split over reads instead of looking again from its start.
func (d Dialect) Next(buf []byte) (payload []byte, n int, err error) {
	hl := d.headerLen()
	if err := d.checkHeader(buf[:min(hl, len(buf))], 0); err != nil {
		return nil, 0, err
	}
	if len(buf) < hl {
		return nil, 0, nil
	}
	size, err := d.payloadSize(buf[:hl])
	if err != nil {
		return nil, 0, err
	}
	if len(buf)-hl < size {
		return nil, 0, nil
	}
	return buf[hl : hl+size : hl+size], hl + size, nil
}

// checkHeader checks header bytes h, the first at offset at of the header,
// as soon as they arrive: an ASCII header is digits, and a peer speaking
// another dialect is dropped without waiting for the rest.
func (d Dialect) checkHeader(h []byte, at int) error {
	if d.Header != HeaderASCII4 {
		return nil
	}
	for i, c := range h {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: non-digit byte at %d", ErrBadHeader, at+i)
		}
	}
	return nil
}

// payloadSize reads a whole (checked) header: the payload size, which must
// be 1..the dialect's maximum.
func (d Dialect) payloadSize(h []byte) (int, error) {
	var size int
	if d.Header == HeaderASCII4 {
		size = int(h[0]-'0')*1000 + int(h[1]-'0')*100 + int(h[2]-'0')*10 + int(h[3]-'0')
	} else {
		size = int(binary.BigEndian.Uint16(h))
	}
	if size == 0 {
		return 0, ErrEmptyFrame
	}
	if max := d.maxFrame(); size > max {
		return 0, fmt.Errorf("%w: %d bytes, max %d", ErrFrameTooLarge, size, max)
	}
	return size, nil
}

// AppendFrame appends the length header and payload to dst.
func (d Dialect) AppendFrame(dst, payload []byte) ([]byte, error) {
	dst, at, err := d.beginFrame(dst)
	if err != nil {
		return dst, err
	}
	dst = append(dst, payload...)
	return d.endFrame(dst, at)
}

// beginFrame reserves the header; endFrame fills it once the payload has
// been appended after it. On error endFrame truncates dst back to at.
func (d Dialect) beginFrame(dst []byte) ([]byte, int, error) {
	if err := d.Validate(); err != nil {
		return dst, len(dst), err
	}
	at := len(dst)
	if d.Header == HeaderASCII4 {
		return append(dst, 0, 0, 0, 0), at, nil
	}
	return append(dst, 0, 0), at, nil
}

func (d Dialect) endFrame(dst []byte, at int) ([]byte, error) {
	hl := d.headerLen()
	size := len(dst) - at - hl
	if size == 0 {
		return dst[:at], ErrEmptyFrame
	}
	if max := d.maxFrame(); size > max {
		return dst[:at], fmt.Errorf("%w: %d bytes, max %d", ErrFrameTooLarge, size, max)
	}
	h := dst[at : at+hl]
	if d.Header == HeaderASCII4 {
		h[0] = byte('0' + size/1000)
		h[1] = byte('0' + size/100%10)
		h[2] = byte('0' + size/10%10)
		h[3] = byte('0' + size%10)
	} else {
		binary.BigEndian.PutUint16(h, uint16(size))
	}
	return dst, nil
}
