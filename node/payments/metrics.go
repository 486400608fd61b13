package payments

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests  *prometheus.CounterVec // answered calls by route and status
	refused   *prometheus.CounterVec // refusals by route and code
	forwarded prometheus.Counter
	retries   prometheus.Counter
	unknown   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_api_requests_total", Help: "Payments API calls answered by a merchant's route, by route and HTTP status.",
		}, []string{"route", "status"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_api_refused_total", Help: "Payments API calls refused, by route and error code.",
		}, []string{"route", "code"}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_api_forwarded_total", Help: "Payments API calls a standby forwarded to the active.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_api_retries_total", Help: "Payments API calls that found their payment or step recorded (an idempotent retry).",
		}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_api_outcome_unknown_total", Help: "Payments API calls answered 503 outcome_unknown.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.refused, m.forwarded, m.retries, m.unknown)
	}
	return m
}
