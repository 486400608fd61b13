package adminapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AuditParam is one key parameter of an operator action.
type AuditParam struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Outcomes of an audited action.
const (
	AuditOK      = "ok"      // answered 2xx
	AuditError   = "error"   // ran, or was tried, and failed
	AuditRefused = "refused" // the token's role does not allow it (403)
	AuditUnknown = "unknown" // started; its outcome was never recorded
)

// AuditRecord is one operator action in the replicated audit log.
type AuditRecord struct {
	Seq     uint64       `json:"seq"` // the Raft index that recorded its start
	ID      string       `json:"id"`
	At      time.Time    `json:"at"`
	Actor   string       `json:"actor"` // the token's name
	Role    string       `json:"role"`
	Action  string       `json:"action"`
	Params  []AuditParam `json:"params"`
	Source  string       `json:"source"` // the client's address
	Node    string       `json:"node"`   // the node that ran it
	Outcome string       `json:"outcome"`
	Status  int          `json:"status,omitempty"` // the HTTP status answered
	Error   string       `json:"error,omitempty"`
	EndedAt *time.Time   `json:"ended_at,omitempty"`
}

// AuditLog is the answer of GET /audit, oldest first.
type AuditLog struct {
	Node    string        `json:"node"`
	Records []AuditRecord `json:"records"`
}

// AuditQuery filters GET /audit; zero fields match everything. Limit keeps
// the newest that match.
type AuditQuery struct {
	Since  time.Time
	Actor  string
	Action string
	Limit  int
}

// AuditEntry is what a standby sends the leader (POST /audit/records) to
// record an action it runs: the phase "start" before, "end" after. The
// leader takes the actor from the token that comes with it.
type AuditEntry struct {
	Phase   string       `json:"phase"`
	ID      string       `json:"id"`
	At      time.Time    `json:"at"`
	Action  string       `json:"action,omitempty"`
	Params  []AuditParam `json:"params,omitempty"`
	Source  string       `json:"source,omitempty"`
	Node    string       `json:"node,omitempty"`
	Status  int          `json:"status,omitempty"`
	Error   string       `json:"error,omitempty"`
	EndedAt *time.Time   `json:"ended_at,omitempty"`
}

// Audit fetches GET /audit.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditLog, error) {
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if q.Actor != "" {
		v.Set("actor", q.Actor)
	}
	if q.Action != "" {
		v.Set("action", q.Action)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out AuditLog
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// RecordAudit sends POST /audit/records (to the leader).
func (c *Client) RecordAudit(ctx context.Context, e AuditEntry) error {
	resp, err := c.send(ctx, c.httpClient(), http.MethodPost, "/audit/records", e)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
