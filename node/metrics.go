package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the node's Prometheus series. Labels never carry a PAN, STAN
// or terminal id: those are unbounded and sensitive.
type metrics struct {
	transactions   *prometheus.CounterVec
	malformed      *prometheus.CounterVec
	acquirerErrors *prometheus.CounterVec
	notProcessed   prometheus.Counter
	relayed        *prometheus.CounterVec
	unanswered     prometheus.Counter
	lostAnswers    prometheus.Counter
	repeatsWaited  prometheus.Counter
	refusedConns   prometheus.Counter
	idleClosed     prometheus.Counter
	takeovers      prometheus.Counter
	inflight       prometheus.Gauge
	latency        prometheus.Histogram
	acquirer       prometheus.Histogram
	commit         prometheus.Histogram
	relayDuration  prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry, n *Node) *metrics {
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 16) // 0.5 ms .. 16 s
	m := &metrics{
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_transactions_total", Help: "Answered transactions by kind, response code and source (acquirer, duplicate, local).",
		}, []string{"kind", "rc", "source"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_malformed_requests_total", Help: "Register input refused, by reason (frame, unpack, invalid, panic).",
		}, []string{"reason"}),
		acquirerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_acquirer_errors_total", Help: "Acquirer requests without an answer: unavailable (never sent) or unknown (may have been authorized).",
		}, []string{"kind"}),
		notProcessed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_not_processed_total", Help: "Requests a standby answered \"not processed\" (no active known, or the relay could not send), with a pointer to the active.",
		}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_relayed_requests_total", Help: "Requests a standby relayed to the active, by result (answered, no_active, not_sent, in_flight, unknown).",
		}, []string{"result"}),
		unanswered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_unanswered_total", Help: "Requests left without an answer because their outcome was unknown (the register repeats them).",
		}),
		lostAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_lost_answers_total", Help: "Answers that could not be written because the register had gone.",
		}),
		repeatsWaited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_repeats_joined_total", Help: "Repeats that arrived while their original was in progress and waited for it.",
		}),
		refusedConns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_register_connections_refused_total", Help: "Register connections closed at accept because MaxConns was reached.",
		}),
		idleClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_register_connections_idle_closed_total", Help: "Register connections closed for being idle.",
		}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_takeovers_total", Help: "Times this node became the active and finished resolving open intents.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tillgate_requests_in_flight", Help: "Register requests being processed.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tillgate_request_duration_seconds", Help: "Time from a whole frame read to its answer.", Buckets: buckets,
		}),
		acquirer: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tillgate_acquirer_duration_seconds", Help: "Round trip to the acquirer.", Buckets: buckets,
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tillgate_raft_commit_duration_seconds", Help: "Time for an INTENT or OUTCOME to be committed and applied.", Buckets: buckets,
		}),
		relayDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tillgate_relay_duration_seconds", Help: "Round trip of a request a standby relayed to the active.", Buckets: buckets,
		}),
	}
	reg.MustRegister(m.transactions, m.malformed, m.acquirerErrors, m.notProcessed, m.unanswered,
		m.lostAnswers, m.repeatsWaited, m.refusedConns, m.idleClosed, m.takeovers, m.inflight,
		m.latency, m.acquirer, m.commit, m.relayed, m.relayDuration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tillgate_register_connections", Help: "Open register connections.",
		}, func() float64 {
			if n.regs == nil {
				return 0
			}
			return float64(n.regs.count.Load())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tillgate_active", Help: "1 while this node is the active and serving.",
		}, func() float64 {
			if v := n.currentView(); v.leader && v.serving {
				return 1
			}
			return 0
		}),
	)
	// A registry per node: three nodes in one test process must not collide.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
