package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
)

// The demo's issuer ACS (3-D Secure) and its payment link (README: the
// payments API).
const (
	demoACSAddr  = "127.0.0.1:9585"
	demoACSRange = "400000"
	demoACSCode  = "123456"
	// demoChallengeCard is a test card of the challenge range that acqsim
	// approves.
	demoChallengeCard = "4000000000000010"
)

// demoACS serves the issuer ACS on demoACSAddr.
func demoACS(log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", demoACSAddr)
	if err != nil {
		return "", nil, fmt.Errorf("demo: acs: %w", err)
	}
	acs := sim.NewACS(sim.ACSConfig{Ranges: []string{demoACSRange}, Code: demoACSCode, Logger: log})
	srv := &http.Server{Handler: acs.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo: acs", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// demoLink creates the demo's payment link through the payments API (the
// same one again with a reused --data: the Idempotency-Key is fixed) and
// returns its URL.
func demoLink(ctx context.Context, api string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"amount": 4990, "currency": "EUR", "description": "Invoice 2026-0042: a pair of walking boots",
		"customer":   map[string]string{"name": "Alex Customer", "email": "alex@example.com"},
		"expires_at": time.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339),
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/links", bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+demoMerchantKey)
		req.Header.Set("Idempotency-Key", "demo-link-1")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		var raw []byte
		if err == nil {
			raw, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var l struct {
					URL string `json:"url"`
				}
				if err := json.Unmarshal(raw, &l); err != nil {
					return "", fmt.Errorf("demo: payment link: %w", err)
				}
				return l.URL, nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(raw))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("demo: payment link: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
