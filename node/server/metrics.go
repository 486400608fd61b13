package server

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	malformed    *prometheus.CounterVec
	lostAnswers  prometheus.Counter
	refusedConns *prometheus.CounterVec
	limitClosed  *prometheus.CounterVec
	idleClosed   prometheus.Counter
	// TLS listener only, and deadlineClosed's first_frame.
	handshakeFailures *prometheus.CounterVec
	deadlineClosed    *prometheus.CounterVec
	inflight          prometheus.Gauge
	latency           prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_malformed_requests_total", Help: "Register input refused, by reason (frame, unpack, invalid, panic).",
		}, []string{"reason"}),
		lostAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_lost_answers_total", Help: "Answers that could not be written because the register had gone.",
		}),
		refusedConns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_register_connections_refused_total",
			Help: "Register connections closed at accept, by reason: max_conns, per_ip (max_conns_per_ip), rate (accept_rate).",
		}, []string{"reason"}),
		limitClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_register_connections_limit_closed_total",
			Help: "Register connections closed for a limit, by reason: in_flight (max_inflight_per_conn), slow_reader (answers unread past write_buffer_cap or the write deadline).",
		}, []string{"reason"}),
		idleClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_register_connections_idle_closed_total", Help: "Register connections closed for being idle.",
		}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_register_tls_handshake_failures_total",
			Help: "Register TLS handshakes that failed, by reason (no_client_cert, unknown_authority, server_name, expired, bad_certificate, refused_by_peer, not_tls, timeout, closed, other).",
		}, []string{"reason"}),
		deadlineClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_register_connections_deadline_closed_total",
			Help: "Register connections closed for a frame too slow: over TLS the first after the handshake (first_frame); any listener, one begun and not finished (frame).",
		}, []string{"phase"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tillgate_requests_in_flight", Help: "Register requests being processed.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tillgate_request_duration_seconds", Help: "Time from a whole frame read to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
		}),
	}
	reg.MustRegister(m.malformed, m.lostAnswers, m.refusedConns, m.limitClosed, m.idleClosed, m.handshakeFailures, m.deadlineClosed, m.inflight, m.latency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tillgate_register_connections", Help: "Open register connections.",
		}, func() float64 { return float64(s.Connections()) }))
	// Series of the fixed label sets exist from the start, at 0.
	for _, r := range []string{"frame", "unpack", "invalid", "panic"} {
		m.malformed.WithLabelValues(r)
	}
	for _, r := range refusalReasons {
		m.refusedConns.WithLabelValues(r)
	}
	for _, r := range limitCloseReasons {
		m.limitClosed.WithLabelValues(r)
	}
	if s.cfg.TLS != nil {
		for _, r := range HandshakeReasons {
			m.handshakeFailures.WithLabelValues(r)
		}
		m.deadlineClosed.WithLabelValues("first_frame")
	}
	m.deadlineClosed.WithLabelValues("frame")
	return m
}
