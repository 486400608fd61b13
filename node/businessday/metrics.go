package businessday

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/store"
)

type metrics struct {
	cutovers                          *prometheus.CounterVec
	settlementFiles, settlementErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		cutovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_day_cutovers_total", Help: "Business-day cutovers this node committed, by who asked (schedule, operator).",
		}, []string{"by"}),
		settlementFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_settlement_files_total", Help: "Settlement files whose checksums this node recorded in the log.",
		}),
		settlementErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_settlement_errors_total", Help: "Settlement files that could not be rendered, recorded or written (see the log); a checksum mismatch is one.",
		}),
	}
	// The series alerts look at exist at 0 from the start, so that
	// increase() sees the first event (deploy/prometheus/alerts.yml).
	for _, by := range []string{store.BySchedule, store.ByOperator} {
		m.cutovers.WithLabelValues(by)
	}
	reg.MustRegister(m.cutovers, m.settlementFiles, m.settlementErrors)
	return m
}
