package node

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tillgate/tillgate/cluster"
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
	carriedOn      prometheus.Counter
	swept          prometheus.Counter
	refusedConns   prometheus.Counter
	idleClosed     prometheus.Counter
	takeovers      prometheus.Counter
	inflight       prometheus.Gauge
	latency        prometheus.Histogram
	acquirer       prometheus.Histogram
	commit         prometheus.Histogram
	relayDuration  prometheus.Histogram

	// Store-and-forward and stand-in (saf.go, standin.go).
	safSent, safAcked, safSkipped *prometheus.CounterVec
	standIn                       *prometheus.CounterVec

	// Business days and register batches (day.go, batch.go).
	batches, cutovers                 *prometheus.CounterVec
	settlementFiles, settlementErrors prometheus.Counter
}

// registerer registers on a node's registry and remembers what, so that
// Close can take it all back: a node restarted in the same process (tests,
// the demo) registers its collectors again on the same registry.
type registerer struct {
	reg  *prometheus.Registry
	mu   sync.Mutex
	mine []prometheus.Collector
}

// MustRegister registers cs; a collector registered twice is a bug: panic.
func (r *registerer) MustRegister(cs ...prometheus.Collector) {
	r.reg.MustRegister(cs...)
	r.mu.Lock()
	r.mine = append(r.mine, cs...)
	r.mu.Unlock()
}

// Register registers c, reporting a collector that is already there.
func (r *registerer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.mine = append(r.mine, c)
	r.mu.Unlock()
	return nil
}

// Unregister takes back c.
func (r *registerer) Unregister(c prometheus.Collector) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range r.mine {
		if m == c {
			r.mine = append(r.mine[:i], r.mine[i+1:]...)
			break
		}
	}
	return r.reg.Unregister(c)
}

// unregisterAll takes back every collector registered through r.
func (r *registerer) unregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.mine {
		r.reg.Unregister(c)
	}
	r.mine = nil
}

func newMetrics(reg *registerer, n *Node) *metrics {
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 16) // 0.5 ms .. 16 s
	m := &metrics{
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_transactions_total", Help: "Answered transactions by kind, response code and source (acquirer, duplicate, local).",
		}, []string{"kind", "rc", "source"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tillgate_malformed_requests_total", Help: "Register input refused, by reason (frame, unpack, invalid, panic).",
		}, []string{"reason"}),
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
		lostAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_lost_answers_total", Help: "Answers that could not be written because the register had gone.",
		}),
		repeatsWaited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_repeats_joined_total", Help: "Repeats that arrived while their original was in progress and waited for it.",
		}),
		carriedOn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_carried_on_total", Help: "Requests whose outcome this node lost with its leadership, handed on to the next active as repeats.",
		}),
		swept: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tillgate_intents_swept_total", Help: "INTENTs left open on the active with nobody working on them (an OUTCOME that could not be committed), resolved by its sweep.",
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
		m.lostAnswers, m.repeatsWaited, m.carriedOn, m.swept, m.refusedConns, m.idleClosed, m.takeovers, m.inflight,
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
			if v := n.views.Current(); v.Leader && v.Serving {
				return 1
			}
			return 0
		}),
	)
	// Series of the fixed label sets exist from the start, at 0, so that
	// rate() and alerts see the first event and dashboards show a 0, not
	// "no data".
	for _, r := range []string{"frame", "unpack", "invalid", "panic"} {
		m.malformed.WithLabelValues(r)
	}
	for _, k := range []string{"unavailable", "unknown", "at_limit"} {
		m.acquirerErrors.WithLabelValues(k)
	}
	for _, r := range []string{relayAnswered, relayNoActive, relayNotSent, relayInFlight, relayUnknown} {
		m.relayed.WithLabelValues(r)
	}
	m.registerSAF(reg, n)
	n.acquirers.RegisterMetrics(reg)
	m.registerDays(reg)
	reg.MustRegister(newStateCollector(n))
	// A registry per node: three nodes in one test process must not collide.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// stateCollector exposes what other components already keep (Raft state,
// acquirer link counters, the relay's connections) at scrape time: each
// Collect reads cluster.Status and Link.Stats once, and the request path
// pays nothing for it.
type stateCollector struct {
	n       *Node
	started time.Time

	info, role, hasLeader, term, lastIndex, commitIndex, appliedIndex *prometheus.Desc
	snapshotIndex, stateApplied, lastContact, peer, peerLeader        *prometheus.Desc

	relayConns *prometheus.Desc
}

var raftRoles = []string{cluster.RoleLeader, cluster.RoleFollower, cluster.RoleCandidate, cluster.RoleShutdown}

func newStateCollector(n *Node) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{
		n:       n,
		started: time.Now(),

		info: d("tillgate_node_info", "Always 1; labels name this node (id) and its register address, to map a scrape target to a node.", "id", "register_addr"),
		role: d("tillgate_raft_role", "1 for the Raft role this node is in now, 0 for the others.", "role"),
		hasLeader: d("tillgate_raft_leader_known",
			"1 while this node knows a Raft leader (itself included)."),
		term:         d("tillgate_raft_term", "Current Raft term."),
		lastIndex:    d("tillgate_raft_last_index", "Index of the last entry in the local Raft log (or snapshot)."),
		commitIndex:  d("tillgate_raft_commit_index", "Highest Raft index this node knows to be committed."),
		appliedIndex: d("tillgate_raft_applied_index", "Highest Raft index handed to the state machine (raft's view)."),
		snapshotIndex: d("tillgate_raft_last_snapshot_index",
			"Raft index of the latest local snapshot; 0 before the first."),
		stateApplied: d("tillgate_state_applied_index",
			"Raft index the state machine (bbolt) has durably applied, recorded in the same transaction as the data."),
		lastContact: d("tillgate_raft_last_contact_seconds",
			"Seconds since this follower last heard from a leader (since node start if never); 0 on the leader."),
		peer: d("tillgate_raft_peer_info",
			"Always 1 for each server in the latest Raft configuration. hashicorp/raft v1.7 exposes no per-peer replication progress, so there is no per-peer lag series: compare tillgate_raft_applied_index across nodes instead.",
			"peer", "address", "suffrage", "self"),
		peerLeader: d("tillgate_raft_peer_leader", "1 for the peer this node believes is the leader, 0 for the others.", "peer"),

		relayConns: d("tillgate_relay_connections",
			"Connections a standby holds to the active's register listener for relaying; 0 on the active."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.role, c.hasLeader, c.term, c.lastIndex, c.commitIndex,
		c.appliedIndex, c.snapshotIndex, c.stateApplied, c.lastContact, c.peer, c.peerLeader, c.relayConns} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	gauge(c.info, 1, n.cfg.ID, n.cfg.RegisterAddr)

	if n.raft != nil {
		st := n.raft.Status()
		for _, r := range raftRoles {
			gauge(c.role, b2f(st.Role == r), r)
		}
		gauge(c.hasLeader, b2f(st.LeaderID != ""))
		gauge(c.term, float64(st.Term))
		gauge(c.lastIndex, float64(st.LastIndex))
		gauge(c.commitIndex, float64(st.CommitIndex))
		gauge(c.appliedIndex, float64(st.AppliedIndex))
		gauge(c.snapshotIndex, float64(st.LastSnapshotIndex))
		var since float64
		switch {
		case st.Role == cluster.RoleLeader:
		case st.LastContact.IsZero():
			since = time.Since(c.started).Seconds()
		default:
			since = time.Since(st.LastContact).Seconds()
		}
		gauge(c.lastContact, since)
		for _, p := range st.Peers {
			gauge(c.peer, 1, p.ID, p.Addr, p.Suffrage, boolLabel(p.Self))
			gauge(c.peerLeader, b2f(p.Leader), p.ID)
		}
	}
	if n.store != nil {
		gauge(c.stateApplied, float64(n.store.AppliedIndex()))
	}
	gauge(c.relayConns, float64(n.relay.connections()))
}

// connections counts the relay link's open connections, for the metrics.
func (r *relay) connections() int {
	r.mu.Lock()
	l := r.link
	r.mu.Unlock()
	if l == nil {
		return 0
	}
	return l.Stats().Connected
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
