package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries an event's signature:
//
//	Tillgate-Signature: t=1764770000,v1=5f2c...e1
//
// t is the unix time (seconds) of the delivery attempt and v1 the
// lowercase hex HMAC-SHA256, keyed with the merchant's webhook secret, of
// the bytes t + "." + body. A merchant recomputes it over the raw body it
// received, compares in constant time, and refuses a t too far from its
// own clock (Verify's tolerance), so that a recorded delivery cannot be
// replayed later. Each attempt is signed afresh.
const SignatureHeader = "Tillgate-Signature"

// Headers a delivery also carries, for routing without parsing the body.
const (
	EventIDHeader   = "Tillgate-Event-Id"
	EventTypeHeader = "Tillgate-Event-Type"
)

// Sign is the SignatureHeader value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrSignature is what Verify wraps when a signature does not hold.
var ErrSignature = errors.New("webhooks: bad signature")

// Verify checks a SignatureHeader value against body, as a merchant would:
// the HMAC must match and t be within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("%w: header %q: want t=UNIX,v1=HEX", ErrSignature, header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %d, %v from now", ErrSignature, sec, d)
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return fmt.Errorf("%w: the HMAC does not match the body", ErrSignature)
	}
	return nil
}
