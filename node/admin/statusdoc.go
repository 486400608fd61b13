package admin

import (
	"math"
	"net/http"
	"time"

	"github.com/tillgate/tillgate/cluster"
	"github.com/tillgate/tillgate/store"
)

// The JSON of GET /status.json. Figures a node cannot know are null, never
// a made-up zero.
type (
	statusDoc struct {
		GeneratedAt time.Time     `json:"generated_at"`
		Node        statusNode    `json:"node"`
		Peers       []statusPeer  `json:"peers"`
		Traffic     statusTraffic `json:"traffic"`
		Latency     statusLatency `json:"latency_ms"`
		Acquirer    statusAcq     `json:"acquirer"`
		SAF         statusSAF     `json:"saf"`
		Day         statusDay     `json:"business_day"`
		Declines    statusDecl    `json:"declines"`
	}
	statusNode struct {
		ID                string   `json:"id"`
		Role              string   `json:"role"` // leader, follower, candidate, shutdown
		Active            bool     `json:"active"`
		Serving           bool     `json:"serving"` // the active, takeover finished
		Term              uint64   `json:"term"`
		LeaderID          string   `json:"leader_id"`
		ActiveAddr        string   `json:"active_addr"`
		AppliedIndex      uint64   `json:"applied_index"`
		CommitIndex       uint64   `json:"commit_index"`
		LastIndex         uint64   `json:"last_index"`
		LastSnapshotIndex uint64   `json:"last_snapshot_index"`
		LeaderContactAgoS *float64 `json:"leader_contact_ago_s"` // a follower's last contact with the leader
	}
	statusPeer struct {
		ID           string `json:"id"`
		RaftAddr     string `json:"raft_addr"`
		RegisterAddr string `json:"register_addr"`
		Suffrage     string `json:"suffrage"`
		Role         string `json:"role"` // leader, this node's own role, or "standby" (as this node knows)
		Self         bool   `json:"self"`
	}
	statusTraffic struct {
		WindowS             *float64           `json:"window_s"`
		TxPerSecond         *float64           `json:"tx_per_s"`
		DeclinesPerSecond   *float64           `json:"declines_per_s"`
		TransactionsTotal   float64            `json:"transactions_total"`
		DeclinedTotal       float64            `json:"declined_total"`
		InFlight            float64            `json:"in_flight"`
		RegisterConnections int64              `json:"register_connections"`
		RelayedTotal        float64            `json:"relayed_total"`
		Relayed             map[string]float64 `json:"relayed_by_result"`
		UnansweredTotal     float64            `json:"unanswered_total"`
	}
	statusLatency struct {
		Request    statusQuantiles `json:"request"`
		Acquirer   statusQuantiles `json:"acquirer"`
		RaftCommit statusQuantiles `json:"raft_commit"`
	}
	statusQuantiles struct {
		Scope string   `json:"scope"` // "window" (last few seconds), "since_start", or "none"
		Count uint64   `json:"count"`
		P50   *float64 `json:"p50"`
		P99   *float64 `json:"p99"`
	}
	statusAcq struct {
		Name             string `json:"name"`
		Addr             string `json:"addr"`
		Healthy          bool   `json:"healthy"`
		Connected        int    `json:"connected"`
		TimeoutsTotal    int64  `json:"timeouts_total"`
		UnavailableTotal int64  `json:"unavailable_total"`
		LostTotal        int64  `json:"lost_total"`
		ReconnectsTotal  int64  `json:"reconnects_total"`
	}
	statusSAF struct {
		Implemented bool   `json:"implemented"`
		Note        string `json:"note"`
		Depth       int    `json:"depth"` // entries owed to all acquirers
		// OldestAgeS is the age of the oldest entry; null when none.
		OldestAgeS *float64 `json:"oldest_age_s"`
	}
	statusDay struct {
		Open string `json:"open"` // the open business day
		// Last is the latest closed day: its status (closing, settled) and
		// whether its files are recorded and reconciled.
		Last       string `json:"last_closed"`
		LastStatus string `json:"last_status"`
		Files      int    `json:"files"`
		Reconciled *bool  `json:"reconciled"` // null: not reconciled yet
		Note       string `json:"note"`
	}
	statusDecl struct {
		Total  uint64          `json:"total"` // declines this node answered since start
		Recent []statusDecline `json:"recent"`
	}
	statusDecline struct {
		Time     time.Time `json:"time"`
		Node     string    `json:"node"`
		Kind     string    `json:"kind"`
		RC       string    `json:"rc"`
		RCText   string    `json:"rc_text"`
		Source   string    `json:"source"`
		PAN      string    `json:"pan_masked"`
		Terminal string    `json:"terminal"`
		Amount   int64     `json:"amount"` // minor units
		Currency string    `json:"currency"`
	}
)

var rcTexts = map[string]string{
	"00": "approved", "05": "do not honour", "13": "invalid amount", "14": "invalid card",
	"25": "original not found", "30": "format error", "51": "insufficient funds", "54": "expired card",
	"55": "incorrect PIN", "91": "issuer/switch inoperative", "94": "duplicate transmission",
	"95": "reconciliation error", "96": "system malfunction",
}

// statusDocs builds GET /status.json from the API's sources and the page's
// own rings.
type statusDocs struct{ cfg *Config }

func (d statusDocs) serveJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, d.doc())
}

func (d statusDocs) doc() statusDoc {
	now := time.Now()
	v := d.cfg.Views.Current()
	cs := d.cfg.Raft.Status()
	doc := statusDoc{
		GeneratedAt: now.UTC(),
		Node: statusNode{
			ID: d.cfg.NodeID, Role: cs.Role, Active: v.Leader, Serving: v.Active(),
			Term: cs.Term, LeaderID: cs.LeaderID, ActiveAddr: v.ActiveAddr,
			AppliedIndex: d.cfg.State.AppliedIndex(), CommitIndex: cs.CommitIndex,
			LastIndex: cs.LastIndex, LastSnapshotIndex: cs.LastSnapshotIndex,
		},
		Peers:    d.peers(cs),
		Acquirer: d.acquirer(),
		SAF:      d.safStatus(now),
		Day:      d.dayStatus(),
	}
	if !cs.LastContact.IsZero() {
		doc.Node.LeaderContactAgoS = figure(now.Sub(cs.LastContact).Seconds())
	}
	doc.Traffic.RegisterConnections = d.cfg.Registers.Connections()
	d.figures(&doc, now)
	return doc
}

func (d statusDocs) peers(cs cluster.Status) []statusPeer {
	var out []statusPeer
	for _, p := range cs.Peers {
		role := "standby"
		switch {
		case p.Leader:
			role = "leader"
		case p.Self:
			role = cs.Role
		}
		out = append(out, statusPeer{
			ID: p.ID, RaftAddr: p.Addr, RegisterAddr: d.cfg.RegisterAddrOf(p.ID),
			Suffrage: p.Suffrage, Role: role, Self: p.Self,
		})
	}
	return out
}

func (d statusDocs) acquirer() statusAcq {
	st := d.cfg.AcquirerLink.Stats()
	return statusAcq{
		Name: d.cfg.AcquirerName, Addr: d.cfg.AcquirerAddr, Healthy: st.Connected > 0,
		Connected: st.Connected, TimeoutsTotal: st.Timeouts, UnavailableTotal: st.Unavailable,
		LostTotal: st.Lost, ReconnectsTotal: st.Reconnects,
	}
}

// figures fills in the traffic, the declines and the latency from the
// registry and the page's rings.
func (d statusDocs) figures(doc *statusDoc, now time.Time) {
	page := d.cfg.Page
	g := page.gather()
	cur, _ := takeSampleFrom(g, now)
	doc.Traffic.TransactionsTotal, doc.Traffic.DeclinedTotal = cur.tx, cur.declined
	doc.Traffic.InFlight, _ = g.sum(inflightMetric, "")
	doc.Traffic.RelayedTotal, doc.Traffic.Relayed = g.sum(relayedMetric, "result")
	doc.Traffic.UnansweredTotal, _ = g.sum(unansMetric, "")

	declines, total, old, haveOld := page.recent(now)
	doc.Declines.Total = total
	doc.Declines.Recent = []statusDecline{}
	for _, e := range declines {
		doc.Declines.Recent = append(doc.Declines.Recent, statusDecline{
			Time: e.at.UTC(), Node: d.cfg.NodeID, Kind: e.kind, RC: e.rc, RCText: rcTexts[e.rc],
			Source: e.source, PAN: e.pan, Terminal: e.terminal, Amount: e.amount, Currency: e.currency,
		})
	}
	if haveOld {
		dt := now.Sub(old.at).Seconds()
		doc.Traffic.WindowS = figure(dt)
		doc.Traffic.TxPerSecond = figure(math.Max(0, cur.tx-old.tx) / dt)
		doc.Traffic.DeclinesPerSecond = figure(math.Max(0, cur.declined-old.declined) / dt)
	}
	quantiles := func(name string) statusQuantiles {
		h, ok := cur.hist[name]
		if !ok {
			return statusQuantiles{Scope: "none"}
		}
		scope := "since_start"
		if o, ok := old.hist[name]; haveOld && ok {
			if diff := h.minus(o); diff.total > 0 {
				h, scope = diff, "window"
			}
		}
		if h.total == 0 {
			return statusQuantiles{Scope: "none"}
		}
		return statusQuantiles{Scope: scope, Count: h.total, P50: millis(h.quantile(0.5)), P99: millis(h.quantile(0.99))}
	}
	doc.Latency = statusLatency{Request: quantiles(latencyMetric), Acquirer: quantiles(acquirerMetric), RaftCommit: quantiles(commitMetric)}
}

// figure is a figure the node knows, for the JSON; where it knows none the
// field stays nil (null), never a made-up zero.
func figure(f float64) *float64 { return &f }

func millis(sec float64) *float64 {
	if math.IsNaN(sec) {
		return nil
	}
	return figure(math.Round(sec*1e6) / 1e3)
}

// safStatus is the status page's view of the queues.
func (d statusDocs) safStatus(now time.Time) statusSAF {
	out := statusSAF{Implemented: true, Note: "advices and reversals owed to acquirers; the active sends them"}
	stats, err := d.cfg.State.SAFStats()
	if err != nil {
		out.Note = "cannot read the queue: " + err.Error()
		return out
	}
	var oldest int64
	for _, st := range stats {
		if out.Depth == 0 || st.Oldest < oldest {
			oldest = st.Oldest
		}
		out.Depth += st.Depth
	}
	if out.Depth > 0 {
		out.OldestAgeS = figure(max(0, now.Sub(time.Unix(0, oldest)).Seconds()))
	}
	return out
}

// dayStatus is the status page's view of the business days.
func (d statusDocs) dayStatus() statusDay {
	var out statusDay
	days, err := d.cfg.State.Days()
	if err != nil {
		out.Note = "cannot read the days: " + err.Error()
		return out
	}
	out.Open, _ = d.cfg.State.OpenDay()
	for _, day := range days {
		if day.Status == store.DayOpen {
			continue
		}
		out.Last, out.LastStatus, out.Files = day.Day, day.Status.String(), len(day.Files)
		out.Reconciled = nil
		for _, r := range day.Recons {
			ok := r.Reconciled && (out.Reconciled == nil || *out.Reconciled)
			out.Reconciled = &ok
		}
	}
	return out
}
