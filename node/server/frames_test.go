package server

import (
	"strings"
	"testing"
)

func TestScrubMasksCardNumbers(t *testing.T) {
	got := scrub("field 2: bad value 4111111111111111 near 12")
	if strings.Contains(got, "4111111111111111") || !strings.Contains(got, "411111") {
		t.Fatalf("scrub left %q", got)
	}
}
