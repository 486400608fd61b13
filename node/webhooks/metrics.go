package webhooks

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	deliveries *prometheus.CounterVec // attempts by result
	failures   *prometheus.CounterVec // failed attempts by reason
}

// newMetrics registers the deliverer's series. The queue depth is read
// from the replicated state at scrape time, so every node reports it.
func newMetrics(reg prometheus.Registerer, state State) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_webhook_deliveries_total", Help: "Merchant webhook delivery attempts by this node, by result (delivered: a 2xx and its ack committed; failed).",
		}, []string{"result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_webhook_failures_total", Help: "Failed merchant webhook deliveries, by reason (transport, status, ack).",
		}, []string{"reason"}),
	}
	for _, r := range []string{"delivered", "failed"} {
		m.deliveries.WithLabelValues(r)
	}
	for _, r := range []string{"transport", "status", "ack"} {
		m.failures.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.failures, &depthCollector{state: state,
			depth: prometheus.NewDesc("tillgate_webhook_queue_depth", "Merchant notifications queued (replicated), not yet acknowledged by the merchant.", nil, nil)})
	}
	return m
}

type depthCollector struct {
	state State
	depth *prometheus.Desc
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth }

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	_, n, err := c.state.WebhookHeads()
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
}
