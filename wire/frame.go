package wire

import (
	"errors"
	"io"
)

// FrameDecoder splits a byte stream into the frames of one dialect,
// incrementally: it is handed the bytes as they arrive, in chunks of any
// size, and keeps what it has of an unfinished frame (the header bytes,
// then the payload so far) from one call to the next, so that no byte is
// looked at twice. A frame wholly inside one chunk is returned as a slice
// of that chunk, without a copy; a frame split over chunks is assembled in
// the decoder's own buffer, allocated once at the size of the largest
// frame. This is the shape of nats-server's parser (server/parser.go).
//
// A FrameDecoder is not safe for concurrent use: one per connection.
type FrameDecoder struct {
	d   Dialect
	hl  int // header length
	err error

	hdr  [4]byte // the header of the frame being read
	nh   int     // header bytes seen
	size int     // payload size once the header is complete, else 0
	buf  []byte  // the payload so far of a frame split over chunks
}

// NewFrameDecoder returns a decoder of d's frames. An invalid dialect
// yields a decoder whose every call fails with that error.
func NewFrameDecoder(d Dialect) *FrameDecoder {
	f := &FrameDecoder{}
	f.reset(d)
	return f
}

func (f *FrameDecoder) reset(d Dialect) {
	*f = FrameDecoder{d: d, hl: d.headerLen(), err: d.Validate(), buf: f.buf[:0]}
}

// Decode consumes bytes of p and returns the next complete payload, if
// any, and n, the bytes of p consumed. A nil payload means all of p was
// taken and the frame is not complete: hand in the next chunk. Otherwise
// call again with p[n:] for the frames after it. The payload aliases p or
// the decoder's buffer: it is valid until the next call, and the caller
// copies it to keep it.
//
// An error (wrapping ErrBadHeader, ErrEmptyFrame, ErrFrameTooLarge or
// ErrInvalidDialect; see IsFramingError) means the stream cannot be
// resynchronised: close the connection. Every later call returns it too.
func (f *FrameDecoder) Decode(p []byte) (payload []byte, n int, err error) {
	if f.err != nil {
		return nil, 0, f.err
	}
	if f.nh == 0 {
		// The common case: a whole frame at the start of the chunk.
		if payload, n, err = f.d.Next(p); err != nil || n > 0 {
			f.err = err
			return payload, n, err
		}
	}
	if f.nh < f.hl {
		if n, err = f.readHeader(p); err != nil || f.nh < f.hl {
			return nil, n, err
		}
	}
	return f.readPayload(p, n)
}

// readHeader takes header bytes from p; once the header is whole it knows
// the payload size.
func (f *FrameDecoder) readHeader(p []byte) (int, error) {
	n := min(f.hl-f.nh, len(p))
	if err := f.d.checkHeader(p[:n], f.nh); err != nil {
		f.err = err
		return 0, err
	}
	f.nh += copy(f.hdr[f.nh:f.hl], p[:n])
	if f.nh < f.hl {
		return n, nil
	}
	size, err := f.d.payloadSize(f.hdr[:f.hl])
	if err != nil {
		f.err = err
		return 0, err
	}
	f.size = size
	return n, nil
}

// readPayload takes payload bytes from p[n:]: without a copy when the
// payload lies there whole, else into the buffer.
func (f *FrameDecoder) readPayload(p []byte, n int) ([]byte, int, error) {
	rest := p[n:]
	if len(f.buf) == 0 && len(rest) >= f.size {
		payload := rest[:f.size:f.size]
		f.next()
		return payload, n + len(payload), nil
	}
	if cap(f.buf) < f.size {
		f.buf = make([]byte, 0, max(f.size, f.d.maxFrame()))
	}
	take := min(f.size-len(f.buf), len(rest))
	f.buf = append(f.buf, rest[:take]...)
	n += take
	if len(f.buf) < f.size {
		return nil, n, nil
	}
	payload := f.buf[:f.size:f.size]
	f.next()
	return payload, n, nil
}

// next readies the decoder for the following frame. The buffer keeps its
// memory: a payload returned from it stays valid until the next Decode.
func (f *FrameDecoder) next() {
	f.nh, f.size, f.buf = 0, 0, f.buf[:0]
}

// IsFramingError reports an error of a FrameDecoder or FrameReader that
// comes from the byte stream itself (a bad or too large frame), not from
// reading it.
func IsFramingError(err error) bool {
	return errors.Is(err, ErrBadHeader) || errors.Is(err, ErrEmptyFrame) ||
		errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrInvalidDialect)
}

// DefaultReadBuffer is the read buffer of a FrameReader made with size 0.
const DefaultReadBuffer = 4096

// FrameReader reads the frames of one dialect from a connection: the one
// reading loop of every client and server in tillgate that reads on a
// goroutine of its own (node's gnet server hands its buffers to Next). It
// reads into one buffer, allocated once, and decodes with a FrameDecoder,
// so that a frame that arrived in one read is never copied and a long
// stream of frames allocates nothing.
//
// A FrameReader is not safe for concurrent use: one goroutine reads.
type FrameReader struct {
	r    io.Reader
	dec  FrameDecoder
	buf  []byte // the read buffer
	rest []byte // the part of buf not decoded yet
	used int    // bytes of buf the last read filled
	err  error  // the read error, returned (once) when rest is decoded
}

// NewFrameReader reads d's frames from r with a read buffer of size bytes
// (0: DefaultReadBuffer). A frame larger than the buffer is assembled
// over several reads.
func NewFrameReader(r io.Reader, d Dialect, size int) *FrameReader {
	if size <= 0 {
		size = DefaultReadBuffer
	}
	fr := &FrameReader{buf: make([]byte, size)}
	fr.Reset(r, d)
	return fr
}

// Reset makes fr read d's frames from r, as new, keeping its buffers.
func (fr *FrameReader) Reset(r io.Reader, d Dialect) {
	fr.r, fr.rest, fr.err = r, nil, nil
	fr.dec.reset(d)
}

// Started reports whether bytes of a frame not returned yet have been
// read: a server bounds the time a frame, once begun, may take to arrive.
func (fr *FrameReader) Started() bool { return len(fr.rest) > 0 || fr.dec.nh > 0 }

// Next returns the payload of the next frame; it is valid until the next
// call (copy it to keep it). The error of a read comes only after the
// frames that read completed (io.EOF at a frame boundary, or the
// connection's error), and only once, as with bufio: a Next after a read
// deadline passed reads again and goes on with a frame begun. A framing
// error (IsFramingError) means the stream cannot be resynchronised: every
// later call returns it; close the connection.
func (fr *FrameReader) Next() ([]byte, error) {
	for {
		if len(fr.rest) > 0 {
			payload, n, err := fr.dec.Decode(fr.rest)
			if err != nil {
				return nil, err
			}
			fr.rest = fr.rest[n:]
			if payload != nil {
				return payload, nil
			}
		}
		if err := fr.err; err != nil {
			fr.err = nil // as bufio: once, then the next call reads again
			return nil, err
		}
		// The frames read before are spent: the buffer keeps no card
		// data of theirs while the connection waits.
		clear(fr.buf[:fr.used])
		k, err := fr.r.Read(fr.buf)
		fr.rest, fr.err, fr.used = fr.buf[:k], err, k
	}
}
