package takeover

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	takeovers prometheus.Counter
	swept     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, views Views) *metrics {
	m := &metrics{
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_takeovers_total", Help: "Times this node became the active and finished resolving open intents.",
		}),
		swept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_intents_swept_total", Help: "INTENTs left open on the active with nobody working on them (an OUTCOME that could not be committed), resolved by its sweep.",
		}),
	}
	reg.MustRegister(m.takeovers, m.swept, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tillgate_active", Help: "1 while this node is the active and serving.",
	}, func() float64 {
		if views.Current().Active() {
			return 1
		}
		return 0
	}))
	return m
}
