// Package wire owns tillgate's ISO 8583:1987 dialects and what messages
// mean: the moov-io/iso8583 specs, an incremental frame decoder that works
// on partial buffers (FrameDecoder, FrameReader), a typed view (Message) of
// the fields tillgate uses, the MTIs, the classification of a message
// (Classify: a purchase, a refund, a completion, a stand-in advice...), the
// nine batch totals (Totals), request validation, response codes and PAN
// masking. It imports nothing else of tillgate.
//
// The default dialect is an ASCII MTI, a binary primary/secondary bitmap and
// ASCII field data with ASCII length prefixes (LLVAR/LLLVAR), each message
// framed by a 2-byte big-endian length header; frames over 4 KiB are
// refused. Per-listener options select a hex-ASCII bitmap and a 4-digit
// ASCII length header. Binary data elements travel as upper-case hex
// characters in every dialect: DE52 (PIN block) is 16 characters, DE55 (ICC)
// is LLLVAR whose prefix counts the characters.
//
// Typical use on a connection:
//
//	c := wire.NewCodec(d)
//	fr := wire.NewFrameReader(conn, d, 0)
//	payload, err := fr.Next()     // valid until the next call; err: close
//	m, err := c.Unpack(payload)   // *FormatError: answer fe.RC() if fe.MTI/STAN set
//	err = wire.ValidateRequest(m) // *FormatError as well
//	switch m.Kind() { ... }       // what it means
//	out, err = c.PackFrame(out[:0], resp)
//
// Errors never carry field values. Callers must only ever log MaskPAN(m.PAN)
// and never Track2, PINBlock or ICC.
package wire
