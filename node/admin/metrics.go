package admin

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	refused       *prometheus.CounterVec
	auditFailures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_admin_refused_total",
			Help: "Admin API requests refused before they ran, by reason: no_token, wrong_token, role (403), host, origin, busy (429).",
		}, []string{"reason"}),
		auditFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_admin_audit_failures_total",
			Help: "Audit records of operator actions that could not be committed: start (the action was not performed) or end (it was, its outcome is not recorded).",
		}, []string{"phase"}),
	}
	for _, r := range []string{"no_token", "wrong_token", "role", "host", "origin", "busy"} {
		m.refused.WithLabelValues(r)
	}
	m.auditFailures.WithLabelValues("start")
	m.auditFailures.WithLabelValues("end")
	reg.MustRegister(m.refused, m.auditFailures)
	return m
}
