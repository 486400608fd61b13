// Package card reads the card of a register request.
package card

import (
	"strings"

	"github.com/tillgate/tillgate/wire"
)

// Number is DE2, or the PAN part of track 2 when the card was swiped.
func Number(req *wire.Message) string {
	if req.PAN != "" {
		return req.PAN
	}
	if i := strings.IndexAny(req.Track2, "=D"); i > 0 {
		return req.Track2[:i]
	}
	return ""
}
