package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/hashicorp/raft"
)

// One record per raft.Log, little endian:
//
//	0  u32 length of the body (everything after these 8 bytes)
//	4  u32 CRC-32C (Castagnoli) of the body
//	8  body: u64 index, u64 term, u8 type, u8 flags, u32 len(Data),
//	   u32 len(Extensions), u8 len(AppendedAt), then Data, Extensions and
//	   AppendedAt in time.Time's binary form.
//
// flags remember whether Data and Extensions were nil or empty, so that a
// raft.Log reads back exactly as it was stored.
const (
	recordPrefix  = 8                          // length + CRC
	recordFixed   = 8 + 8 + 1 + 1 + 4 + 4 + 1  // fixed part of the body
	recordHeader  = recordPrefix + recordFixed // bytes before Data
	flagData      = 1 << 0                     // Data was non-nil
	flagExt       = 1 << 1                     // Extensions was non-nil
	maxTimeBinary = 16                         // time.Time binary form is 15 or 16 bytes
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli) // read-only after init

	// errBadRecord: a record does not decode (short, bad length or CRC).
	errBadRecord = errors.New("bad record")
)

// appendRecord encodes l onto buf.
func appendRecord(buf []byte, l *raft.Log) ([]byte, error) {
	if uint64(len(l.Data)) > math.MaxUint32/2 || uint64(len(l.Extensions)) > math.MaxUint32/2 {
		return buf, fmt.Errorf("entry %d is too large (%d bytes)", l.Index, len(l.Data)+len(l.Extensions))
	}
	start := len(buf)
	buf = append(buf, make([]byte, recordHeader)...)
	buf = append(buf, l.Data...)
	buf = append(buf, l.Extensions...)
	withTime, err := l.AppendedAt.AppendBinary(buf)
	if err != nil {
		// Only a zone offset beyond ±32767 minutes has no binary form:
		// keep the instant rather than refuse the entry, which would stop
		// the node over an informational field.
		withTime, err = l.AppendedAt.UTC().AppendBinary(buf)
	}
	if err != nil {
		return buf[:start], fmt.Errorf("entry %d: AppendedAt: %w", l.Index, err)
	}
	buf = withTime
	h := buf[start : start+recordHeader]
	binary.LittleEndian.PutUint32(h[0:], uint32(len(buf)-start-recordPrefix))
	binary.LittleEndian.PutUint64(h[8:], l.Index)
	binary.LittleEndian.PutUint64(h[16:], l.Term)
	h[24] = byte(l.Type)
	h[25] = nilFlags(l)
	binary.LittleEndian.PutUint32(h[26:], uint32(len(l.Data)))
	binary.LittleEndian.PutUint32(h[30:], uint32(len(l.Extensions)))
	h[34] = byte(len(buf) - start - recordHeader - len(l.Data) - len(l.Extensions))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(buf[start+recordPrefix:], crcTable))
	return buf, nil
}

func nilFlags(l *raft.Log) byte {
	var f byte
	if l.Data != nil {
		f |= flagData
	}
	if l.Extensions != nil {
		f |= flagExt
	}
	return f
}

// recordLen returns the length of the whole record starting at b[0], or an
// error if b is too short to hold its prefix or the record it announces.
func recordLen(b []byte) (int, error) {
	if len(b) < recordPrefix {
		return 0, fmt.Errorf("%w: %d bytes left, need %d for a prefix", errBadRecord, len(b), recordPrefix)
	}
	n := uint64(binary.LittleEndian.Uint32(b)) + recordPrefix
	if n < recordHeader || n > uint64(len(b)) {
		return 0, fmt.Errorf("%w: length %d with %d bytes left", errBadRecord, n, len(b))
	}
	return int(n), nil
}

// decodeRecord checks and decodes the record that is exactly rec. Data and
// Extensions alias rec: give it a buffer of its own.
func decodeRecord(rec []byte, l *raft.Log) error {
	if _, err := recordLen(rec); err != nil {
		return err
	}
	body := rec[recordPrefix:]
	if got, want := crc32.Checksum(body, crcTable), binary.LittleEndian.Uint32(rec[4:]); got != want {
		return fmt.Errorf("%w: CRC %08x, header says %08x", errBadRecord, got, want)
	}
	dataLen := uint64(binary.LittleEndian.Uint32(rec[26:]))
	extLen := uint64(binary.LittleEndian.Uint32(rec[30:]))
	timeLen := uint64(rec[34])
	if recordHeader+dataLen+extLen+timeLen != uint64(len(rec)) || timeLen > maxTimeBinary {
		return fmt.Errorf("%w: field lengths %d+%d+%d do not add up to %d", errBadRecord, dataLen, extLen, timeLen, len(rec))
	}
	*l = raft.Log{
		Index: binary.LittleEndian.Uint64(rec[8:]),
		Term:  binary.LittleEndian.Uint64(rec[16:]),
		Type:  raft.LogType(rec[24]),
	}
	flags := rec[25]
	p := uint64(recordHeader)
	l.Data = field(rec, p, dataLen, flags&flagData != 0)
	p += dataLen
	l.Extensions = field(rec, p, extLen, flags&flagExt != 0)
	p += extLen
	if err := l.AppendedAt.UnmarshalBinary(rec[p:]); err != nil {
		return fmt.Errorf("%w: AppendedAt: %w", errBadRecord, err)
	}
	return nil
}

// field returns rec[p:p+n] capped at its length (an append by the caller
// must not overwrite the next field), or nil if the field was nil.
func field(rec []byte, p, n uint64, nonNil bool) []byte {
	if !nonNil {
		return nil
	}
	return rec[p : p+n : p+n]
}

// recordIndex returns the index field of a record checked by recordLen.
func recordIndex(rec []byte) uint64 { return binary.LittleEndian.Uint64(rec[8:]) }
