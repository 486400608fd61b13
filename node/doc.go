// Package node is the tillgate daemon: it joins the lower layers (wire, store,
// cluster, acquirer) into one authorization node. A Node listens for cash
// registers with gnet, runs the authorization pipeline (duplicate check,
// INTENT committed, acquirer, OUTCOME committed, answer) while it is the Raft
// leader, relays requests to the active while it is a standby (so that a
// register knowing one address keeps working), resolves the INTENTs a
// previous leader left open when it takes over, and serves the admin HTTP
// API and metrics.
//
// Node has Start, Ready, Err and Close so that tests can run three in one
// process.
package node
