package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client talks to one node's admin API.
type Client struct {
	// Base is the node's admin URL, e.g. "http://127.0.0.1:9101".
	Base string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP defaults to a client with a 10 s timeout.
	HTTP *http.Client
}

// NewClient returns a client for the node whose admin API listens on addr
// (host:port or a URL).
func NewClient(addr string) *Client {
	base := addr
	if len(base) < 7 || (base[:7] != "http://" && (len(base) < 8 || base[:8] != "https://")) {
		base = "http://" + base
	}
	return &Client{Base: base, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// Status fetches GET /status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.get(ctx, "/status", &s)
}

// Totals fetches GET /totals.
func (c *Client) Totals(ctx context.Context) (Totals, error) {
	var t Totals
	return t, c.get(ctx, "/totals", &t)
}

// Hash fetches GET /hash.
func (c *Client) Hash(ctx context.Context) (Hash, error) {
	var h Hash
	return h, c.get(ctx, "/hash", &h)
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return fmt.Errorf("adminapi: %s: %w", path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("adminapi: GET %s%s: %w", c.Base, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("adminapi: GET %s%s: read: %w", c.Base, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("adminapi: GET %s%s: %s: %s", c.Base, path, resp.Status, e.Error)
		}
		return fmt.Errorf("adminapi: GET %s%s: %s", c.Base, path, resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("adminapi: GET %s%s: decode: %w", c.Base, path, err)
	}
	return nil
}
