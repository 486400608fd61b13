package check

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testPAN    = "4000000000000002"
	testTrack2 = "4000000000000002=29121010000000000000"
	testPIN    = "0412AC89ABCDEF67" // an ISO format 0 PIN block, hex
)

var testSecrets = []string{testPAN, testTrack2, testPIN}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func withAt(size, at int, secret []byte) []byte {
	b := bytes.Repeat([]byte{0xAA}, size)
	copy(b[at:], secret)
	return b
}

func twoPANs() []byte {
	b := withAt(2*scanChunk, scanChunk-20, []byte(testPAN))
	copy(b[scanChunk+2:], testPAN)
	return b
}

func TestScanFiles(t *testing.T) {
	pin, _ := hex.DecodeString(testPIN)
	bcd, _ := hex.DecodeString(testPAN)
	cases := []struct {
		name    string
		content []byte
		want    []string // details contain these, one violation each
	}{
		{"clean", bytes.Repeat([]byte("0123456789"), 1000), nil},
		{"masked PAN only", []byte("card 400000******0002 approved"), nil},
		{"clear PAN in a log line", []byte("2026-12-03 pan=" + testPAN + " rc=00\n"), []string{"at offset 15 (1 occurrences)"}},
		{"track 2 with D as separator", []byte("x" + strings.Replace(testTrack2, "=", "D", 1)), []string{"(secret 0, ascii form) at offset 1", "other track 2 separator"}}, // the PAN is in the track
		{"PIN block as bytes", withAt(4096, 100, pin), []string{"binary form) at offset 100"}},
		{"PAN as packed BCD", withAt(4096, 7, bcd), []string{"bcd form) at offset 7"}},
		// The first read takes scanChunk plus the longest needle less one
		// (36 bytes); matches from scanChunk on are left to the next round.
		{"PAN across the search limit", withAt(2*scanChunk, scanChunk-5, []byte(testPAN)), []string{"at offset 1048571 (1 occurrences)"}},
		{"PAN across a read", withAt(2*scanChunk, scanChunk+30, []byte(testPAN)), []string{"at offset 1048606 (1 occurrences)"}},
		{"PANs either side of the kept tail's start, each counted once", twoPANs(), []string{"at offset 1048556 (2 occurrences)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "raft.db", tc.content)
			vs := ScanFiles([]string{path}, testSecrets)
			if len(vs) != len(tc.want) {
				t.Fatalf("%d violations, want %d: %v", len(vs), len(tc.want), vs)
			}
			for i, v := range vs {
				if v.Invariant != I8 || v.ID != path || !strings.Contains(v.Detail, tc.want[i]) {
					t.Errorf("violation %+v, want %s on %s saying %q", v, I8, path, tc.want[i])
				}
				if strings.Contains(v.String(), testPAN) || strings.Contains(v.String(), testPIN) {
					t.Errorf("the report leaks the secret: %s", v)
				}
			}
		})
	}
}

// TestScanWalksDirectories: a data directory is walked; an unreadable
// path is a violation, not a silent pass.
func TestScanWalksDirectories(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "node1/raft/snapshots/1-2-3/state.bin", []byte("..."+testPAN+"..."))
	writeFile(t, dir, "node1/state.db", []byte("clean"))
	missing := filepath.Join(dir, "no-such-file")
	vs := ScanFiles([]string{dir, missing}, testSecrets)
	if len(vs) != 2 || !strings.HasSuffix(vs[0].ID, "state.bin") || vs[1].ID != missing || !strings.Contains(vs[1].Detail, "could not be scanned") {
		t.Fatalf("violations %v", vs)
	}
}

func TestMaskSecret(t *testing.T) {
	for in, want := range map[string]string{
		testPAN:    "400000******0002",
		testPIN:    "04************67",
		testTrack2: "40" + strings.Repeat("*", len(testTrack2)-4) + "00",
		"1234":     "****",
	} {
		if got := maskSecret(in); got != want {
			t.Errorf("maskSecret(%q) = %q, want %q", in, got, want)
		}
	}
}
