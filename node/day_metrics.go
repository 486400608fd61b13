package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/store"
)

// registerDays adds the business-day and register-batch series.
func (m *metrics) registerDays(reg *registerer) {
	m.batches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tillgate_batch_requests_total", Help: "Register batch requests answered (0500 totals, 0320 uploads) by MTI and response code; 95 is a batch out of balance.",
	}, []string{"mti", "rc"})
	m.cutovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tillgate_day_cutovers_total", Help: "Business-day cutovers this node committed, by who asked (schedule, operator).",
	}, []string{"by"})
	m.settlementFiles = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tillgate_settlement_files_total", Help: "Settlement files whose checksums this node recorded in the log.",
	})
	m.settlementErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tillgate_settlement_errors_total", Help: "Settlement files that could not be rendered, recorded or written (see the log); a checksum mismatch is one.",
	})
	// The answers alerts look at exist at 0 from the start, so that
	// increase() sees the first 95 and the rule's series are exported
	// before the first batch (deploy/prometheus/alerts.yml).
	for _, l := range [][2]string{{"0500", "00"}, {"0500", "95"}, {"0320", "00"}} {
		m.batches.WithLabelValues(l[0], l[1])
	}
	for _, by := range []string{store.BySchedule, store.ByOperator} {
		m.cutovers.WithLabelValues(by)
	}
	reg.MustRegister(m.batches, m.cutovers, m.settlementFiles, m.settlementErrors)
}

// dayStatus is the status page's view of the business days.
func (n *Node) dayStatus() statusDay {
	var out statusDay
	days, err := n.store.Days()
	if err != nil {
		out.Note = "cannot read the days: " + err.Error()
		return out
	}
	out.Open, _ = n.store.OpenDay()
	for _, d := range days {
		if d.Status == store.DayOpen {
			continue
		}
		out.Last, out.LastStatus, out.Files = d.Day, d.Status.String(), len(d.Files)
		out.Reconciled = nil
		for _, r := range d.Recons {
			ok := r.Reconciled && (out.Reconciled == nil || *out.Reconciled)
			out.Reconciled = &ok
		}
	}
	return out
}
