// Package adminapi holds the request and response types of a node's admin
// HTTP API and a small client for them. It imports nothing of tillgate so that
// tillctl, tillbench and tests can speak to a node without linking the node.
// CloseDay (dayclose.go) is the one business-day close over the clients:
// the demo and tillbench close their days with it.
package adminapi
