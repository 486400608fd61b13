package adminapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Terminal is one registered terminal (GET /terminals/{id}).
type Terminal struct {
	ID       string    `json:"id"`       // DE41
	Merchant string    `json:"merchant"` // DE42 its requests must carry (or omit)
	Store    string    `json:"store"`    // the store whose client certificate may send for it
	Blocked  bool      `json:"blocked"`
	Added    time.Time `json:"added"`
	Changed  time.Time `json:"changed"`
}

// Terminals is a page of GET /terminals, by id.
type Terminals struct {
	Terminals []Terminal `json:"terminals"`
	// Next is the cursor of the next page (the after parameter); "" on the
	// last page.
	Next string `json:"next,omitempty"`
}

// TerminalQuery selects terminals: after a cursor, of a store or a
// merchant, at most Limit (0: the node's default page).
type TerminalQuery struct {
	After, Store, Merchant string
	Limit                  int
}

// TerminalRange names terminals From..To (the same prefix, a numeric tail
// of the same length: T0000001..T0002000); To empty for From alone.
type TerminalRange struct {
	From     string `json:"from"`
	To       string `json:"to,omitempty"`
	Merchant string `json:"merchant"`
	Store    string `json:"store"`
}

// AddTerminals is the body of POST /terminals: ranges added in one command
// (at most 20,000 terminals).
type AddTerminals struct {
	Ranges []TerminalRange `json:"ranges"`
}

// TerminalChange is what an add, block or unblock did.
type TerminalChange struct {
	Added     int `json:"added"`
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
}

// Terminals lists registered terminals (GET /terminals).
func (c *Client) Terminals(ctx context.Context, q TerminalQuery) (Terminals, error) {
	v := url.Values{}
	for k, s := range map[string]string{"after": q.After, "store": q.Store, "merchant": q.Merchant} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/terminals"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out Terminals
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Terminal fetches one terminal (GET /terminals/{id}).
func (c *Client) Terminal(ctx context.Context, id string) (Terminal, error) {
	var t Terminal
	return t, c.do(ctx, http.MethodGet, "/terminals/"+url.PathEscape(id), nil, &t)
}

// AddTerminals adds or changes ranges of terminals (POST /terminals;
// leader only). Adding what is registered as it is changes nothing.
func (c *Client) AddTerminals(ctx context.Context, ranges ...TerminalRange) (TerminalChange, error) {
	var ch TerminalChange
	return ch, c.do(ctx, http.MethodPost, "/terminals", AddTerminals{Ranges: ranges}, &ch)
}

// BlockTerminals blocks the registered terminals from..to (to "" for from
// alone), or unblocks them (leader only).
func (c *Client) BlockTerminals(ctx context.Context, from, to string, blocked bool) (TerminalChange, error) {
	verb := "/block"
	if !blocked {
		verb = "/unblock"
	}
	path := "/terminals/" + url.PathEscape(from) + verb
	if to != "" {
		path += "?to=" + url.QueryEscape(to)
	}
	var ch TerminalChange
	return ch, c.do(ctx, http.MethodPost, path, nil, &ch)
}
