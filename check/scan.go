package check

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// scanChunk is how much of a file is searched at a time.
const scanChunk = 1 << 20

// needle is one byte form of a secret to look for.
type needle struct {
	secret int    // index in the caller's secrets
	form   string // "ascii", "binary", "bcd"
	b      []byte
}

// ScanFiles (I8) searches files at rest for clear card data: each path is
// a file or a directory (walked). secrets are the test PANs, track 2
// images and PIN blocks the run used, as text; each is also looked for in
// binary form (a hex PIN block as its 8 bytes, digits as packed BCD), as a
// store could hold either. Each find is a violation naming the file, the
// offset of the first occurrence and the secret, masked: the report must
// not leak what it found. A file that cannot be read is a violation too:
// an unread file proves nothing.
func ScanFiles(paths []string, secrets []string) []Violation {
	needles := needlesOf(secrets)
	var out []Violation
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				out = append(out, unreadable(path, err))
				return nil
			}
			if d.Type().IsRegular() {
				out = append(out, scanFile(path, needles, secrets)...)
			}
			return nil
		})
		if err != nil {
			out = append(out, unreadable(root, err))
		}
	}
	return out
}

func unreadable(path string, err error) Violation {
	return Violation{Invariant: I8, ID: path, Detail: fmt.Sprintf("could not be scanned for card data: %v", err)}
}

// needlesOf turns secrets into every byte form searched.
func needlesOf(secrets []string) []needle {
	var out []needle
	for i, s := range secrets {
		if s == "" {
			continue
		}
		out = append(out, needle{i, "ascii", []byte(s)})
		if alt := otherSeparator(s); alt != s {
			out = append(out, needle{i, "ascii, other track 2 separator", []byte(alt)})
		}
		if b, err := hex.DecodeString(s); err == nil && len(b) >= 8 && !allDigits(s) {
			out = append(out, needle{i, "binary", b})
		}
		if len(s) >= 12 && allDigits(s) {
			out = append(out, needle{i, "bcd", packBCD(s)})
		}
	}
	return out
}

// otherSeparator writes a track 2 image with the other field separator
// ('=' and 'D' are both in use); anything else comes back unchanged.
func otherSeparator(s string) string {
	if i := strings.IndexAny(s, "=D"); i > 0 && allDigits(s[:i]) {
		sep := "D"
		if s[i] == 'D' {
			sep = "="
		}
		return s[:i] + sep + s[i+1:]
	}
	return s
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// packBCD packs digits two to a byte, an odd count padded with F.
func packBCD(s string) []byte {
	if len(s)%2 == 1 {
		s += "F"
	}
	b, _ := hex.DecodeString(s)
	return b
}

// scanFile reports, per needle found in the file, its first offset and
// how often it occurs.
func scanFile(path string, needles []needle, secrets []string) []Violation {
	f, err := os.Open(path)
	if err != nil {
		return []Violation{unreadable(path, err)}
	}
	defer f.Close()
	found, err := scan(f, needles)
	var out []Violation
	for i, h := range found {
		if h.count == 0 {
			continue
		}
		n := needles[i]
		out = append(out, Violation{Invariant: I8, ID: path, Detail: fmt.Sprintf(
			"clear card data at rest: %s (secret %d, %s form) at offset %d (%d occurrences)",
			maskSecret(secrets[n.secret]), n.secret, n.form, h.first, h.count)})
	}
	if err != nil {
		out = append(out, unreadable(path, err))
	}
	return out
}

type hit struct {
	first int64
	count int
}

// scan reads r in chunks; consecutive chunks overlap by the longest needle
// less one byte, so a needle across a boundary is found once.
func scan(r io.Reader, needles []needle) ([]hit, error) {
	hits := make([]hit, len(needles))
	overlap := 0
	for _, n := range needles {
		overlap = max(overlap, len(n.b)-1)
	}
	buf := make([]byte, 0, scanChunk+overlap)
	var base int64 // file offset of buf[0]
	for {
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		// Only matches that start before the kept tail are counted now;
		// the tail is searched again with the next chunk.
		done := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		limit := len(buf)
		if !done {
			limit = max(0, len(buf)-overlap)
		}
		countHits(buf, limit, base, needles, hits)
		if err != nil {
			if done {
				return hits, nil
			}
			return hits, err
		}
		keep := copy(buf, buf[limit:])
		base += int64(limit)
		buf = buf[:keep]
	}
}

// countHits notes every needle occurrence in buf starting before limit.
func countHits(buf []byte, limit int, base int64, needles []needle, hits []hit) {
	for i, n := range needles {
		for from := 0; from < limit; {
			j := bytes.Index(buf[from:], n.b)
			if j < 0 || from+j >= limit {
				break
			}
			if hits[i].count == 0 {
				hits[i].first = base + int64(from+j)
			}
			hits[i].count++
			from += j + 1
		}
	}
}

// maskSecret shows enough of a secret to name it, never the whole: a PAN
// as its first six and last four digits, anything else as its first and
// last two characters.
func maskSecret(s string) string {
	if allDigits(s) && len(s) >= 12 {
		return s[:6] + strings.Repeat("*", len(s)-10) + s[len(s)-4:]
	}
	if len(s) <= 6 {
		return strings.Repeat("*", len(s))
	}
	return s[:2] + strings.Repeat("*", len(s)-4) + s[len(s)-2:]
}
