package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/wire"
)

// metrics are the pipeline's Prometheus series. Labels never carry a PAN,
// STAN or terminal id: those are unbounded and sensitive.
type metrics struct {
	transactions   *prometheus.CounterVec
	acquirerErrors *prometheus.CounterVec
	notProcessed   prometheus.Counter
	relayed        *prometheus.CounterVec
	unanswered     prometheus.Counter
	repeatsWaited  prometheus.Counter
	carriedOn      prometheus.Counter
	acquirer       prometheus.Histogram
	commit         prometheus.Histogram
	relayDuration  prometheus.Histogram
	standIn        *prometheus.CounterVec
	batches        *prometheus.CounterVec
}

// Buckets of the pipeline's duration histograms: 0.5 ms .. 16 s.
var buckets = prometheus.ExponentialBuckets(0.0005, 2, 16)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_transactions_total", Help: "Answered transactions by kind, response code and source (acquirer, duplicate, local).",
		}, []string{"kind", "rc", "source"}),
		acquirerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_acquirer_errors_total", Help: "Acquirer requests without an answer: unavailable (never sent), at_limit (not sent: the acquirer's in-flight cap) or unknown (may have been authorized).",
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
		repeatsWaited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_repeats_joined_total", Help: "Repeats that arrived while their original was in progress and waited for it.",
		}),
		carriedOn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_carried_on_total", Help: "Requests whose outcome this node lost with its leadership, or with the active it relayed them to, handed on to the next active as repeats.",
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
		standIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_stand_in_total", Help: "Stand-in decisions by acquirer, why the acquirer could not answer (unavailable, timeout), and result (approved or declined_REASON).",
		}, []string{"acquirer", "why", "result"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_batch_requests_total", Help: "Register batch requests answered (0500 totals, 0320 uploads) by MTI and response code; 95 is a batch out of balance.",
		}, []string{"mti", "rc"}),
	}
	reg.MustRegister(m.transactions, m.acquirerErrors, m.notProcessed, m.relayed, m.unanswered, m.repeatsWaited,
		m.carriedOn, m.acquirer, m.commit, m.relayDuration, m.standIn, m.batches)
	// Series of the fixed label sets exist from the start, at 0, so that
	// rate() and alerts see the first event and dashboards show a 0, not
	// "no data" (deploy/prometheus/alerts.yml).
	for _, k := range []string{"unavailable", "unknown", "at_limit"} {
		m.acquirerErrors.WithLabelValues(k)
	}
	for _, r := range []string{relayAnswered, relayNoActive, relayNotSent, relayInFlight, relayUnknown} {
		m.relayed.WithLabelValues(r)
	}
	for _, l := range [][2]string{{wire.MTIReconcile, wire.RCApproved}, {wire.MTIReconcile, wire.RCReconcileError}, {wire.MTIBatchUpload, wire.RCApproved}} {
		m.batches.WithLabelValues(l[0], l[1])
	}
	return m
}

// Answered counts the answer in tillgate_transactions_total.
func (m *metrics) Answered(o Outcome) {
	m.transactions.WithLabelValues(o.Kind, o.Txn.RC, o.Source).Inc()
}
