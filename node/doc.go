// Package node is the tillgate daemon: it joins the lower layers (wire,
// store, cluster, acquirer) into one authorization node. The work is done
// by its parts, each a package with one job (ARCHITECTURE.md lists them):
// the register server (node/server) hands requests to the pipeline
// (node/pipeline), which authorizes them while this node is the active and
// relays them to the active (node/relay) while it is a standby; the
// takeover (node/takeover) makes a newly elected node safe to serve;
// store-and-forward (node/saf) delivers what is owed to the acquirers; the
// business day (node/businessday) closes, settles and reconciles days; the
// admin API and the status page are node/admin. DESIGN.md beside this file
// explains the hard parts.
//
// Node itself only wires the parts together and starts and stops them in
// order. It has Start, Ready, Err and Close so that tests can run three in
// one process.
package node
