package sim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// ACS is the issuer's access control server, the part of 3-D Secure that
// authenticates the cardholder of a card-not-present payment before it is
// authorized. Cards whose number starts with one of Config.Ranges need a
// challenge: a one-time code the issuer would send to the cardholder's
// phone, which this simulator writes to its log instead (or a fixed test
// code, as the demo documents). Any other card passes frictionless.
//
// Its HTTP API, served by Handler:
//
//	POST /acs/v1/authentications {"pan", "amount", "currency", "merchant"}
//	  -> {"id", "status": "frictionless" | "challenge", "expires_at"}
//	POST /acs/v1/authentications/{id}/challenge {"code"}
//	  -> {"id", "status": "authenticated" | "retry" | "failed", "attempts_left", "reason"}
//
// A challenge allows ACSConfig.Attempts wrong codes, then fails; it
// expires after ACSConfig.TTL. The ACS holds the transactions in memory
// only: an ACS restarted loses its open challenges (they fail as unknown),
// as a real one's outage would.
type ACS struct {
	cfg ACSConfig
	log *slog.Logger

	mu    sync.Mutex
	trans map[string]*acsTrans
}

// ACSConfig configures the ACS.
type ACSConfig struct {
	// Ranges are the card number prefixes (BINs) that need a challenge.
	Ranges []string
	// Code, if set, is every challenge's code (the demo's documented test
	// code); empty: a random 6-digit code per challenge, logged.
	Code string
	// Attempts is how many codes a challenge takes before it fails
	// (default 3).
	Attempts int
	// TTL bounds a challenge (default 10 minutes).
	TTL time.Duration
	// Clock is the time (default time.Now).
	Clock  func() time.Time
	Logger *slog.Logger
}

type acsTrans struct {
	code     string
	left     int
	until    time.Time
	done     string // "", authenticated, failed
	last4    string
	merchant string
}

// NewACS builds an ACS.
func NewACS(cfg ACSConfig) *ACS {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ACS{cfg: cfg, log: cfg.Logger, trans: map[string]*acsTrans{}}
}

// ParseRanges reads a comma-separated list of BIN prefixes (digits, 1 to
// 11 of them); empty is none.
func ParseRanges(s string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if len(r) > 11 || strings.Trim(r, "0123456789") != "" {
			return nil, fmt.Errorf("sim: acs range %q: want 1 to 11 digits", r)
		}
		out = append(out, r)
	}
	return out, nil
}

// AuthRequest is the body of POST /acs/v1/authentications.
type AuthRequest struct {
	PAN      string `json:"pan"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Merchant string `json:"merchant"`
}

// AuthAnswer is the ACS's answer to an authentication request or a
// challenge.
type AuthAnswer struct {
	ID     string `json:"id"`
	Status string `json:"status"` // frictionless, challenge, authenticated, retry, failed
	// AttemptsLeft is how many codes a challenge still takes.
	AttemptsLeft int    `json:"attempts_left,omitempty"`
	ExpiresAt    string `json:"expires_at,omitempty"`
	Reason       string `json:"reason,omitempty"` // why a challenge failed
}

// ChallengeRequest is the body of POST /acs/v1/authentications/{id}/challenge.
type ChallengeRequest struct {
	Code string `json:"code"`
}

// ACS statuses.
const (
	ACSFrictionless  = "frictionless"
	ACSChallenge     = "challenge"
	ACSAuthenticated = "authenticated"
	ACSRetry         = "retry"
	ACSFailed        = "failed"
)

// Handler serves the ACS's HTTP API.
func (a *ACS) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /acs/v1/authentications", a.authenticate)
	mux.HandleFunc("POST /acs/v1/authentications/{id}/challenge", a.challenge)
	return mux
}

// needsChallenge reports whether pan is in one of the challenge ranges.
func (a *ACS) needsChallenge(pan string) bool {
	for _, r := range a.cfg.Ranges {
		if strings.HasPrefix(pan, r) {
			return true
		}
	}
	return false
}

func (a *ACS) authenticate(w http.ResponseWriter, r *http.Request) {
	var req AuthRequest
	if err := readACS(r, &req); err != nil {
		acsError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !wire.ValidatePAN(req.PAN) {
		acsError(w, http.StatusBadRequest, "pan: not a card number (12 to 19 digits passing the Luhn check)")
		return
	}
	id := randomHex(12)
	now := a.cfg.Clock()
	if !a.needsChallenge(req.PAN) {
		a.log.Info("acs: frictionless", "id", id, "card", wire.MaskPAN(req.PAN), "merchant", req.Merchant)
		acsJSON(w, AuthAnswer{ID: id, Status: ACSFrictionless})
		return
	}
	code := a.cfg.Code
	if code == "" {
		n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
		code = fmt.Sprintf("%06d", n.Int64())
	}
	t := &acsTrans{code: code, left: a.cfg.Attempts, until: now.Add(a.cfg.TTL), last4: req.PAN[len(req.PAN)-4:], merchant: req.Merchant}
	a.mu.Lock()
	a.sweep(now)
	a.trans[id] = t
	a.mu.Unlock()
	// The one-time code goes where an issuer would send it by SMS: here,
	// the log, so that a tester can read it.
	a.log.Info("acs: challenge: one-time code for the cardholder", "id", id, "card", wire.MaskPAN(req.PAN),
		"merchant", req.Merchant, "amount", req.Amount, "currency", req.Currency, "code", code)
	acsJSON(w, AuthAnswer{ID: id, Status: ACSChallenge, AttemptsLeft: t.left, ExpiresAt: t.until.UTC().Format(time.RFC3339)})
}

func (a *ACS) challenge(w http.ResponseWriter, r *http.Request) {
	var req ChallengeRequest
	if err := readACS(r, &req); err != nil {
		acsError(w, http.StatusBadRequest, err.Error())
		return
	}
	id := r.PathValue("id")
	now := a.cfg.Clock()
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.trans[id]
	switch {
	case t == nil:
		acsJSON(w, AuthAnswer{ID: id, Status: ACSFailed, Reason: "unknown or expired authentication"})
		return
	case t.done != "":
		acsJSON(w, AuthAnswer{ID: id, Status: t.done})
		return
	case now.After(t.until):
		t.done = ACSFailed
		a.log.Info("acs: challenge expired", "id", id)
		acsJSON(w, AuthAnswer{ID: id, Status: ACSFailed, Reason: "the challenge expired"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.Code), []byte(t.code)) == 1 {
		t.done = ACSAuthenticated
		a.log.Info("acs: cardholder authenticated", "id", id, "last4", t.last4, "merchant", t.merchant)
		acsJSON(w, AuthAnswer{ID: id, Status: ACSAuthenticated})
		return
	}
	t.left--
	if t.left <= 0 {
		t.done = ACSFailed
		a.log.Info("acs: challenge failed: too many wrong codes", "id", id, "last4", t.last4)
		acsJSON(w, AuthAnswer{ID: id, Status: ACSFailed, Reason: "too many wrong codes"})
		return
	}
	a.log.Info("acs: wrong code", "id", id, "attempts_left", t.left)
	acsJSON(w, AuthAnswer{ID: id, Status: ACSRetry, AttemptsLeft: t.left})
}

// sweep forgets transactions an hour past their expiry (a late answer
// still finds a recent one failed, not unknown).
func (a *ACS) sweep(now time.Time) {
	for id, t := range a.trans {
		if now.Sub(t.until) > time.Hour {
			delete(a.trans, id)
		}
	}
}

func readACS(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<14))
	if err != nil {
		return fmt.Errorf("body unreadable: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

func acsJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func acsError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
