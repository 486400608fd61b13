// Package adminapi holds the request and response types of a node's admin
// HTTP API and a small client for them. It imports nothing of tillgate so that
// tillctl, tillbench and tests can speak to a node without linking the node.
package adminapi
