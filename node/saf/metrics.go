package saf

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/store"
)

type metrics struct {
	safSent, safAcked, safSkipped *prometheus.CounterVec
}

// newMetrics registers the senders' series and the queue's. Queue depth and
// age are read from the replicated state at scrape time, so every node (not
// only the active) reports them.
func newMetrics(reg prometheus.Registerer, f *Forwarder) *metrics {
	m := &metrics{
		safSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_saf_sent_total", Help: "Advices and reversals sent from the store-and-forward queue, by acquirer, kind and whether sent as a repeat.",
		}, []string{"acquirer", "kind", "repeat"}),
		safAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_saf_acknowledged_total", Help: "Store-and-forward entries the acquirer acknowledged (ack committed), by acquirer and kind.",
		}, []string{"acquirer", "kind"}),
		safSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_saf_skipped_total", Help: "Store-and-forward entries skipped past after too many unacknowledged attempts (they stay queued).",
		}, []string{"acquirer"}),
	}
	reg.MustRegister(m.safSent, m.safAcked, m.safSkipped, &queueCollector{f: f,
		depth: prometheus.NewDesc("tillgate_saf_queue_depth", "Advices and reversals owed to the acquirer, not yet acknowledged.", []string{"acquirer"}, nil),
		age:   prometheus.NewDesc("tillgate_saf_oldest_age_seconds", "Age of the oldest entry owed to the acquirer; 0 when none.", []string{"acquirer"}, nil),
		open: prometheus.NewDesc("tillgate_stand_in_open_amount",
			"Amount (minor units) of the acquirer's stand-in approvals whose advices it has not acknowledged: what stand_in.offline_cap bounds.", []string{"acquirer"}, nil),
	})
	for _, name := range f.cfg.Acquirers.Names() {
		m.safSkipped.WithLabelValues(name)
	}
	return m
}

type queueCollector struct {
	f                *Forwarder
	depth, age, open *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.age
	ch <- c.open
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	state := c.f.cfg.State
	stats, err := state.SAFStats()
	if err != nil {
		c.f.log.Warn("saf metrics", logkey.Err, err)
		return
	}
	for _, name := range c.f.names(stats) {
		st := stats[name]
		age := 0.0
		if st.Depth > 0 {
			age = max(0, time.Since(time.Unix(0, st.Oldest)).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(st.Depth), name)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age, name)
		if open, err := state.StandInOpen(name); err == nil {
			ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(open.Amount), name)
		}
	}
}

// names is every configured acquirer and every acquirer something is owed
// to: an acquirer removed from the config while entries were queued for it
// still shows, so that an operator sees what is stuck.
func (f *Forwarder) names(stats map[string]store.SAFStat) []string {
	names := append([]string(nil), f.cfg.Acquirers.Names()...)
	for name := range stats {
		if f.wake[name] == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
