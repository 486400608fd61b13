package node

import (
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
)

// registerSAF adds the store-and-forward and stand-in series. Queue depth
// and age are read from the replicated state at scrape time, so every node
// (not only the active) reports them.
func (m *metrics) registerSAF(reg *registerer, n *Node) {
	m.safSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tillgate_saf_sent_total", Help: "Advices and reversals sent from the store-and-forward queue, by acquirer, kind and whether sent as a repeat.",
	}, []string{"acquirer", "kind", "repeat"})
	m.safAcked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tillgate_saf_acknowledged_total", Help: "Store-and-forward entries the acquirer acknowledged (ack committed), by acquirer and kind.",
	}, []string{"acquirer", "kind"})
	m.safSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tillgate_saf_skipped_total", Help: "Store-and-forward entries skipped past after too many unacknowledged attempts (they stay queued).",
	}, []string{"acquirer"})
	m.standIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tillgate_stand_in_total", Help: "Stand-in decisions by acquirer, why the acquirer could not answer (unavailable, timeout), and result (approved or declined_REASON).",
	}, []string{"acquirer", "why", "result"})
	reg.MustRegister(m.safSent, m.safAcked, m.safSkipped, m.standIn, &safCollector{n: n,
		depth: prometheus.NewDesc("tillgate_saf_queue_depth", "Advices and reversals owed to the acquirer, not yet acknowledged.", []string{"acquirer"}, nil),
		age:   prometheus.NewDesc("tillgate_saf_oldest_age_seconds", "Age of the oldest entry owed to the acquirer; 0 when none.", []string{"acquirer"}, nil),
		open: prometheus.NewDesc("tillgate_stand_in_open_amount",
			"Amount (minor units) of the acquirer's stand-in approvals whose advices it has not acknowledged: what stand_in.offline_cap bounds.", []string{"acquirer"}, nil),
	})
	for _, name := range n.acqNames {
		m.safSkipped.WithLabelValues(name)
	}
}

type safCollector struct {
	n                *Node
	depth, age, open *prometheus.Desc
}

func (c *safCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.age; ch <- c.open }

func (c *safCollector) Collect(ch chan<- prometheus.Metric) {
	if c.n.store == nil {
		return
	}
	stats, err := c.n.store.SAFStats()
	if err != nil {
		c.n.log.Warn("saf metrics", keyErr, err)
		return
	}
	for _, name := range c.n.safNames(stats) {
		st := stats[name]
		age := 0.0
		if st.Depth > 0 {
			age = max(0, time.Since(time.Unix(0, st.Oldest)).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(st.Depth), name)
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age, name)
		if open, err := c.n.store.StandInOpen(name); err == nil {
			ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(open.Amount), name)
		}
	}
}

// safStatus is the status page's view of the queues.
func (n *Node) safStatus(now time.Time) statusSAF {
	out := statusSAF{Implemented: true, Note: "advices and reversals owed to acquirers; the active sends them"}
	stats, err := n.store.SAFStats()
	if err != nil {
		out.Note = "cannot read the queue: " + err.Error()
		return out
	}
	var oldest int64
	for _, st := range stats {
		if out.Depth == 0 || st.Oldest < oldest {
			oldest = st.Oldest
		}
		out.Depth += st.Depth
	}
	if out.Depth > 0 {
		out.OldestAgeS = ptr(max(0, now.Sub(time.Unix(0, oldest)).Seconds()))
	}
	return out
}

// safQueues is the admin /status view of the queues, by acquirer name.
func (n *Node) safQueues() []adminapi.SAFQueue {
	stats, err := n.store.SAFStats()
	if err != nil {
		n.log.Warn("saf status", keyErr, err)
		return nil
	}
	// By the names in the state, not the config: entries of an acquirer
	// since removed from the config still show.
	names := make([]string, 0, len(stats))
	for name := range stats {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]adminapi.SAFQueue, 0, len(names))
	for _, name := range names {
		st := stats[name]
		out = append(out, adminapi.SAFQueue{Acquirer: name, Depth: st.Depth, Oldest: time.Unix(0, st.Oldest).UTC()})
	}
	return out
}

// safNames is every configured acquirer and every acquirer something is
// owed to: an acquirer removed from the config while entries were queued
// for it still shows, so that an operator sees what is stuck.
func (n *Node) safNames(stats map[string]store.SAFStat) []string {
	names := append([]string(nil), n.acqNames...)
	for name := range stats {
		if !slices.Contains(n.acqNames, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
