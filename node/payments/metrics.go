package payments

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests  *prometheus.CounterVec // answered calls by route and status
	refused   *prometheus.CounterVec // refusals by route and code
	forwarded prometheus.Counter
	retries   prometheus.Counter
	unknown   prometheus.Counter
	auth      *prometheus.CounterVec // cardholder authentications by result
	links     prometheus.Counter
	pages     *prometheus.CounterVec // customer pages served, by page and outcome
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
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_api_authentications_total", Help: "Cardholder authentications (3-D Secure) by result: not_required, challenge (asked), authenticated, failed, retry (a wrong code).",
		}, []string{"result"}),
		links: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_api_links_created_total", Help: "Payment links created.",
		}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_api_pages_total", Help: "Customer pages (payment link, challenge) answered, by page and outcome.",
		}, []string{"page", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.refused, m.forwarded, m.retries, m.unknown, m.auth, m.links, m.pages)
	}
	return m
}
