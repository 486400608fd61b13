package node

import (
	"crypto/tls"
	"net/http"

	"github.com/tillgate/tillgate/internal/tlsconf"
	"github.com/tillgate/tillgate/node/admin"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/node/businessday"
	"github.com/tillgate/tillgate/node/payments"
	"github.com/tillgate/tillgate/node/pipeline"
	"github.com/tillgate/tillgate/node/portal"
	"github.com/tillgate/tillgate/node/relay"
	"github.com/tillgate/tillgate/node/reseal"
	"github.com/tillgate/tillgate/node/saf"
	"github.com/tillgate/tillgate/node/takeover"
	"github.com/tillgate/tillgate/node/webhooks"
)

// build makes the parts that work between the state and the doors, each
// over the narrow interfaces it declares, and registers their metrics.
func (n *Node) build(relayTLS *tlsconf.Client) {
	timeout := n.cfg.requestTimeout()
	n.relay = relay.New(relay.Config{
		NodeID: n.cfg.ID, RegisterAddr: n.cfg.RegisterAddr, Timeout: timeout + relay.Margin,
		Dialect: n.codec.Dialect(), TLS: relayTLS, Views: n.views, Logger: n.log,
	})
	n.forwarder = saf.New(saf.Options{
		Config: n.cfg.SAF, LateWindow: timeout, State: n.store, Raft: n.raft, Acquirers: n.acquirers,
		Vault: n.vault, Health: n.health, Logger: n.log, Registerer: n.reg,
	})
	n.days = businessday.New(businessday.Options{
		Config: n.cfg.BusinessDay, DataDir: n.cfg.DataDir, Acquirers: n.acquirers.Names(),
		Clock: n.cfg.Clock, Failpoint: n.cfg.Failpoint, State: n.store, Raft: n.raft,
		Logger: n.log, Registerer: n.reg,
	})
	n.resealer = reseal.New(reseal.Options{
		Config: n.cfg.Reseal, State: n.store, Raft: n.raft, Vault: n.vault, Logger: n.log, Registerer: n.reg,
	})
	n.hooks = webhooks.New(webhooks.Config{
		Currency: payments.CurrencyAlpha, State: n.store, Raft: n.raft, Logger: n.log, Registerer: n.reg,
	})
	n.page = admin.NewStatusPage(n.cfg.Registry)
	n.pipeline = pipeline.New(pipeline.Config{
		NodeID: n.cfg.ID, StandIn: n.cfg.StandIn, RelayTimeout: timeout + relay.Margin, Closing: n.ctx.Done(),
		Raft: n.raft, State: n.store, Acquirers: n.acquirers, Vault: n.vault, Views: n.views,
		Relay: n.relay, SAF: n.forwarder, Health: n.health,
		Observers: []pipeline.Observer{n.page}, Logger: n.log, Registerer: n.reg,
	})
	n.watcher = takeover.New(takeover.Config{
		RequestTimeout: timeout, RegisterAddrOf: n.registerAddrOf,
		Raft: n.raft, State: n.store, Calls: n.pipeline.Calls(), Resolver: n.pipeline,
		Views: n.views, History: n.leaders, Duties: []takeover.Duty{n.forwarder, n.days, n.resealer, n.hooks}, Fail: n.health.Fail,
		Logger: n.log, Registerer: n.reg,
	})
	n.acquirers.RegisterMetrics(n.reg)
	n.relay.RegisterMetrics(n.reg)
	n.registerMetrics()
}

func (n *Node) adminConfig(tokens []admin.Token, tc *tls.Config) admin.Config {
	def := n.acquirers.Default()
	return admin.Config{
		NodeID: n.cfg.ID, Addr: n.cfg.AdminAddr, Tokens: tokens, Hosts: n.cfg.AdminHosts, AdminAddrOf: n.adminAddrOf, TLS: tc, PeerClient: n.adminPeerClient(tc),
		Raft: n.raft, State: n.store, KeyState: n.store, SchemaState: n.store, Vault: n.vault, Days: n.days, Views: n.views, Leaders: n.leaders,
		Registers: n.regs, Page: n.page, RegisterAddrOf: n.registerAddrOf,
		AcquirerName: n.cfg.Acquirer.Name, AcquirerAddr: n.cfg.Acquirer.Addr, AcquirerLink: def.Link(),
		Gatherer: n.cfg.Registry, Registerer: n.reg, Fail: n.health.Fail, Logger: n.log,
	}
}

// adminAddrOf is a peer's admin address, "" if the config does not say.
func (n *Node) adminAddrOf(id string) string {
	for _, p := range n.cfg.Peers {
		if p.ID == id {
			return p.AdminAddr
		}
	}
	return ""
}

// adminPeerClient makes the client a standby sends its audit records to
// the leader with: HTTPS when this node's admin API is, trusting the
// cluster's CA (Raft's, which issues the nodes' certificates; the system's
// roots without one). nil: plain HTTP.
func (n *Node) adminPeerClient(tc *tls.Config) func(addr string) *adminapi.Client {
	if tc == nil {
		return nil
	}
	ctc := &tls.Config{MinVersion: tls.VersionTLS12}
	if rt := n.cfg.Raft.TLS; rt != nil {
		ctc.RootCAs = rt.ClientCAs
	}
	return func(addr string) *adminapi.Client { return adminapi.NewTLSClient(addr, ctc) }
}

// portalMount adds the merchant portal to the payments API.
func (n *Node) portalMount(secure bool) func(*http.ServeMux, http.Handler) {
	return func(mux *http.ServeMux, api http.Handler) {
		portal.New(portal.Config{Merchants: n.store, Keyer: n.vault, Secure: secure, Logger: n.log, Registerer: n.reg}, api).Register(mux)
	}
}

// paymentsAPI builds the card-not-present API over the pipeline.
func (n *Node) paymentsAPI(tc, forward *tls.Config) *payments.Server {
	return payments.New(payments.Config{
		NodeID: n.cfg.ID, Addr: n.cfg.APIAddr, APIAddrOf: n.apiAddrOf, Timeout: n.cfg.requestTimeout() + relay.Margin,
		TLS: tc, ForwardTLS: forward, Mount: n.portalMount(tc != nil), ACSURL: n.cfg.ACSURL,
		Handler: n.pipeline, Raft: n.raft, State: n.store, Vault: n.vault, Views: n.views, Fail: n.health.Fail,
		Logger: n.log, Registerer: n.reg,
	})
}
