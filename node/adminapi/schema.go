package adminapi

import (
	"context"
	"net/http"
)

// Schema is GET /schema: the answering node's state file schema and the
// versions its binary knows.
type Schema struct {
	Node    string   `json:"node"`
	Current string   `json:"current"`
	Known   []string `json:"known"`
}

// SchemaChange is POST /schema/upgrade's body.
type SchemaChange struct {
	Version string `json:"version"`
}

// Schema reads the node's schema (GET /schema).
func (c *Client) Schema(ctx context.Context) (Schema, error) {
	var s Schema
	return s, c.do(ctx, http.MethodGet, "/schema", nil, &s)
}

// UpgradeSchema converts the replicated state to version, once every voter
// knows it (POST /schema/upgrade; leader only).
func (c *Client) UpgradeSchema(ctx context.Context, version string) (Schema, error) {
	var s Schema
	return s, c.do(ctx, http.MethodPost, "/schema/upgrade", SchemaChange{Version: version}, &s)
}
