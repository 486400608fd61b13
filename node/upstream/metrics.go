package upstream

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/acquirer"
)

// RegisterMetrics exports the acquirer links' own counters (Link.Stats) at
// scrape time: the request path pays nothing for them.
func (s *Set) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(newLinkCollector(s))
}

// Label values of tillgate_acquirer_link_errors_total.
const (
	linkErrLost        = "lost"         // request failed because its connection went away
	linkErrUnavailable = "unavailable"  // no connection to send on: never written
	linkErrEcho        = "echo_failure" // echo unanswered, connection closed
	linkErrMalformed   = "malformed"    // undecodable answer from the acquirer
)

type linkCollector struct {
	set                                            *Set
	up, conns, connsConfigured, sent, answered     *prometheus.Desc
	timeouts, late, reconnects, echoes, linkErrors *prometheus.Desc
	tlsFailures                                    *prometheus.Desc
}

func newLinkCollector(s *Set) *linkCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"acquirer"}, labels...), nil)
	}
	return &linkCollector{
		set:             s,
		up:              desc("tillgate_acquirer_link_up", "1 while at least one connection to the acquirer is up."),
		conns:           desc("tillgate_acquirer_link_connections", "Connections to the acquirer up now."),
		connsConfigured: desc("tillgate_acquirer_link_connections_configured", "Connections the acquirer pool is configured to keep."),
		sent: desc("tillgate_acquirer_link_sent_total",
			"Requests written (or queued) to the acquirer, repeats and reversals included."),
		answered: desc("tillgate_acquirer_link_answered_total", "Acquirer requests that got their answer."),
		timeouts: desc("tillgate_acquirer_link_timeouts_total",
			"Acquirer requests that ended without an answer within the timeout (or their context ended)."),
		late: desc("tillgate_acquirer_link_late_answers_total",
			"Acquirer answers that arrived after their request had timed out; dropped."),
		reconnects: desc("tillgate_acquirer_link_reconnects_total",
			"Acquirer connections re-established after a loss or a failed dial."),
		echoes: desc("tillgate_acquirer_link_echoes_total", "Echo (0800/301) requests sent on idle acquirer connections."),
		linkErrors: desc("tillgate_acquirer_link_errors_total",
			"Acquirer link failures by kind: lost (connection went away under a request), unavailable (no connection, never written), echo_failure, malformed (undecodable answer). Timeouts are in tillgate_acquirer_link_timeouts_total.",
			"kind"),
		tlsFailures: desc("tillgate_acquirer_link_tls_failures_total",
			"Failed TLS handshakes with the acquirer (or its refusal right after one), by reason: unknown_authority (check ca_file), server_name, expired, bad_certificate, refused_by_peer (our client certificate), not_tls, closed, timeout, other. Only for acquirers with tls.",
			"reason"),
	}
}

func (c *linkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.conns, c.connsConfigured, c.sent, c.answered,
		c.timeouts, c.late, c.reconnects, c.echoes, c.linkErrors, c.tlsFailures} {
		ch <- d
	}
}

func (c *linkCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v int64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	for _, name := range c.set.names {
		a := c.set.byName[name]
		s := a.link.Stats()
		up := 0.0
		if s.Connected > 0 {
			up = 1
		}
		gauge(c.up, up, name)
		gauge(c.conns, float64(s.Connected), name)
		conns := a.cfg.Conns
		if conns <= 0 {
			conns = acquirer.DefaultConns
		}
		gauge(c.connsConfigured, float64(conns), name)
		counter(c.sent, s.Sent, name)
		counter(c.answered, s.Answered, name)
		counter(c.timeouts, s.Timeouts, name)
		counter(c.late, s.Late, name)
		counter(c.reconnects, s.Reconnects, name)
		counter(c.echoes, s.Echoes, name)
		counter(c.linkErrors, s.Lost, name, linkErrLost)
		counter(c.linkErrors, s.Unavailable, name, linkErrUnavailable)
		counter(c.linkErrors, s.EchoFailures, name, linkErrEcho)
		counter(c.linkErrors, s.Malformed, name, linkErrMalformed)
		for reason, n := range s.TLSFailures {
			counter(c.tlsFailures, n, name, reason)
		}
	}
}
