package relay

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics exports the link's connections.
func (r *Relay) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tillgate_relay_connections",
		Help: "Connections a standby holds to the active's register listener for relaying; 0 on the active.",
	}, func() float64 { return float64(r.Connections()) }))
}
