package store

import (
	"encoding/binary"
	"fmt"
)

// writer and reader are the compact, deterministic encoding shared by
// commands and stored records: single bytes, zig-zag varints for integers,
// uvarint-length-prefixed strings and byte slices. No reflection, no maps:
// equal values always give equal bytes.
type writer struct{ b []byte }

func (w *writer) byte(v byte) { w.b = append(w.b, v) }

func (w *writer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *writer) int(v int64) { w.b = binary.AppendVarint(w.b, v) }

func (w *writer) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *writer) bytes(p []byte) {
	w.b = binary.AppendUvarint(w.b, uint64(len(p)))
	w.b = append(w.b, p...)
}

// reader keeps the first error and returns zero values after it, so a
// decoder reads straight through and checks once, in done. It never panics
// on short or hostile input: every length is checked against what is left.
type reader struct {
	b   []byte
	err error
}

func (r *reader) failf(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.failf("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool {
	switch v := r.byte(); v {
	case 0, 1:
		return v == 1
	default:
		r.failf("boolean byte %d", v)
		return false
	}
}

func (r *reader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.failf("bad integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// raw returns the next length-prefixed field, aliasing the input.
func (r *reader) raw() []byte {
	l, n := binary.Uvarint(r.b)
	if n <= 0 || l > uint64(len(r.b)-n) {
		r.failf("bad field length")
		return nil
	}
	end := n + int(l)
	v := r.b[n:end]
	r.b = r.b[end:]
	return v
}

func (r *reader) str() string { return string(r.raw()) }

// bytes copies the field; empty decodes as nil so that equal records
// compare equal after a round trip.
func (r *reader) bytes() []byte {
	v := r.raw()
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// done reports the first error, or trailing bytes.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.failf("%d trailing bytes", len(r.b))
	}
	return r.err
}

// count reads a list length; a hostile one larger than what is left (each
// element takes at least one byte) fails instead of looping.
func (r *reader) count() int {
	n := r.int()
	if n < 0 || n > int64(len(r.b)) {
		r.failf("bad count %d", n)
		return 0
	}
	return int(n)
}
