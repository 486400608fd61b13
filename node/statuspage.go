package node

import (
	_ "embed"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/tillgate/tillgate/store"
	"github.com/tillgate/tillgate/wire"
)

// The operator's status page: GET / is a self-contained HTML page (no
// external assets) that polls GET /status.json every second.
//
// Neither route asks for the admin bearer token: the page is for a quick
// look at 3 a.m. and carries no card data, only masked PANs (first six,
// last four) and terminal ids. Put the admin port behind the same network
// controls as /metrics.

//go:embed statuspage.html
var statusPageHTML []byte

const (
	declineRing    = 50              // recent declines kept per node
	sampleRing     = 16              // 1 Hz samples kept for rates and windowed latency
	sampleEvery    = time.Second     // sampler period
	statusWindow   = 5 * time.Second // rates and latency percentiles cover about this much
	minRateWindow  = 900 * time.Millisecond
	latencyMetric  = "tillgate_request_duration_seconds"
	acquirerMetric = "tillgate_acquirer_duration_seconds"
	commitMetric   = "tillgate_raft_commit_duration_seconds"
	txMetric       = "tillgate_transactions_total"
	relayedMetric  = "tillgate_relayed_requests_total"
	inflightMetric = "tillgate_requests_in_flight"
	unansMetric    = "tillgate_unanswered_total"
)

// statusPage is the page's own state: a ring of recent declines and a ring
// of metric samples. The zero value is ready to use.
type statusPage struct {
	mu       sync.Mutex
	declines [declineRing]declineEntry
	dnext    int    // next slot in declines
	dtotal   uint64 // declines recorded since start
	samples  [sampleRing]metricSample
	snext    int
	scount   int
}

type declineEntry struct {
	at       time.Time
	kind     string
	rc       string
	source   string
	pan      string // masked
	terminal string
	amount   int64
	currency string
}

// metricSample is what the sampler keeps of the registry once a second.
type metricSample struct {
	at       time.Time
	tx       float64 // answered transactions
	declined float64 // of which not approved
	hist     map[string]histSnap
}

// histSnap is one histogram's cumulative bucket counts.
type histSnap struct {
	bounds []float64 // upper bounds, +Inf excluded
	counts []uint64  // cumulative count per bound
	total  uint64
}

// noteDecline records a declined answer for the status page. It is called
// for every answer and returns at once for approvals. It keeps only what an
// operator may see: the masked PAN, never track, PIN or the clear PAN.
func (n *Node) noteDecline(req *wire.Message, t *store.Txn, source string) {
	if t == nil || t.RC == wire.RCApproved {
		return
	}
	pan := wire.MaskPAN(cardNumber(req))
	if pan == "" && t.BIN != "" {
		pan = t.BIN + "******" + t.Last4
	}
	e := declineEntry{
		at: time.Now(), kind: kindOf(t, req), rc: t.RC, source: source, pan: pan,
		terminal: req.TerminalID, amount: req.Amount, currency: req.Currency,
	}
	s := &n.page
	s.mu.Lock()
	s.declines[s.dnext] = e
	s.dnext = (s.dnext + 1) % declineRing
	s.dtotal++
	s.mu.Unlock()
}

// statusPageRoutes serves the operator's status page on the admin port.
func (n *Node) statusPageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", n.statusPage)
	mux.HandleFunc("GET /status.json", n.statusJSON)
	n.wg.Add(1)
	go n.sampleStatus()
}

// pageCSP allows the inline style and script of the page, fetches to this
// origin only, and nothing from anywhere else.
const pageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (n *Node) statusPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(statusPageHTML)
}

// sampleStatus keeps a second-by-second history of the counters and
// histograms the page turns into rates and windowed percentiles.
func (n *Node) sampleStatus() {
	defer n.wg.Done()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		if smp, ok := n.takeSample(); ok {
			s := &n.page
			s.mu.Lock()
			s.samples[s.snext] = smp
			s.snext = (s.snext + 1) % sampleRing
			if s.scount < sampleRing {
				s.scount++
			}
			s.mu.Unlock()
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// gathered is one read of the families the page uses, by name.
type gathered map[string][]series

// series is one labelled series of a counter, gauge or histogram.
type series struct {
	labels map[string]string
	value  float64   // counter or gauge
	hist   *histSnap // histogram
}

var pageFamilies = map[string]bool{
	txMetric: true, relayedMetric: true, inflightMetric: true, unansMetric: true,
	latencyMetric: true, acquirerMetric: true, commitMetric: true,
}

// gather reads the node's registry (the same figures /metrics serves) and
// keeps the families the page shows.
func (n *Node) gather() gathered {
	fams, _ := n.cfg.Registry.Gather() // partial results are still useful
	g := gathered{}
	for _, f := range fams {
		if !pageFamilies[f.GetName()] {
			continue
		}
		var ss []series
		for _, m := range f.GetMetric() {
			sr := series{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				sr.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Histogram != nil:
				h := histSnap{total: m.GetHistogram().GetSampleCount()}
				for _, b := range m.GetHistogram().GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) {
						h.bounds = append(h.bounds, b.GetUpperBound())
						h.counts = append(h.counts, b.GetCumulativeCount())
					}
				}
				sr.hist = &h
			case m.Counter != nil:
				sr.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				sr.value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				sr.value = m.GetUntyped().GetValue()
			}
			ss = append(ss, sr)
		}
		g[f.GetName()] = ss
	}
	return g
}

func (n *Node) takeSample() (metricSample, bool) {
	return n.takeSampleFrom(n.gather(), time.Now())
}

// transactions sums tillgate_transactions_total, and the part whose RC is
// not 00.
func (g gathered) transactions() (total, declined float64) {
	for _, sr := range g[txMetric] {
		total += sr.value
		if rc, ok := sr.labels["rc"]; ok && rc != wire.RCApproved {
			declined += sr.value
		}
	}
	return total, declined
}

// sum adds up every series of a counter or gauge family; by, when set, also
// returns the values by that label.
func (g gathered) sum(name, by string) (float64, map[string]float64) {
	var total float64
	var parts map[string]float64
	for _, sr := range g[name] {
		total += sr.value
		if v, ok := sr.labels[by]; by != "" && ok {
			if parts == nil {
				parts = map[string]float64{}
			}
			parts[v] += sr.value
		}
	}
	return total, parts
}

// histogram reads a histogram family, adding up its series.
func (g gathered) histogram(name string) (histSnap, bool) {
	var h histSnap
	found := false
	for _, sr := range g[name] {
		if sr.hist == nil {
			continue
		}
		if !found {
			h = histSnap{bounds: sr.hist.bounds, counts: append([]uint64(nil), sr.hist.counts...), total: sr.hist.total}
			found = true
			continue
		}
		if len(sr.hist.counts) != len(h.counts) {
			continue
		}
		h.total += sr.hist.total
		for i, c := range sr.hist.counts {
			h.counts[i] += c
		}
	}
	return h, found
}

// minus is the histogram of the observations between old and h.
func (h histSnap) minus(old histSnap) histSnap {
	if len(old.counts) != len(h.counts) || old.total > h.total {
		return h
	}
	d := histSnap{bounds: h.bounds, counts: make([]uint64, len(h.counts)), total: h.total - old.total}
	for i := range h.counts {
		d.counts[i] = h.counts[i] - old.counts[i]
	}
	return d
}

// quantile estimates the q-quantile in seconds the way Prometheus's
// histogram_quantile does: linear within the bucket that holds it. Beyond
// the last finite bound the answer is that bound.
func (h histSnap) quantile(q float64) float64 {
	if h.total == 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * float64(h.total)
	i := sort.Search(len(h.counts), func(i int) bool { return float64(h.counts[i]) >= rank })
	if i == len(h.counts) {
		return h.bounds[len(h.bounds)-1]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.bounds[i-1], float64(h.counts[i-1])
	}
	in := float64(h.counts[i]) - below
	if in <= 0 {
		return h.bounds[i]
	}
	return lo + (h.bounds[i]-lo)*(rank-below)/in
}

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

func (n *Node) statusJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, n.statusDoc())
}

func (n *Node) statusDoc() statusDoc {
	now := time.Now()
	v := n.views.Current()
	cs := n.raft.Status()
	doc := statusDoc{
		GeneratedAt: now.UTC(),
		Node: statusNode{
			ID: n.cfg.ID, Role: cs.Role, Active: v.Leader, Serving: v.Leader && v.Serving,
			Term: cs.Term, LeaderID: cs.LeaderID, ActiveAddr: v.ActiveAddr,
			AppliedIndex: n.store.AppliedIndex(), CommitIndex: cs.CommitIndex,
			LastIndex: cs.LastIndex, LastSnapshotIndex: cs.LastSnapshotIndex,
		},
		SAF: n.safStatus(now),
		Day: n.dayStatus(),
	}
	if !cs.LastContact.IsZero() {
		doc.Node.LeaderContactAgoS = ptr(now.Sub(cs.LastContact).Seconds())
	}
	for _, p := range cs.Peers {
		role := "standby"
		switch {
		case p.Leader:
			role = "leader"
		case p.Self:
			role = cs.Role
		}
		doc.Peers = append(doc.Peers, statusPeer{
			ID: p.ID, RaftAddr: p.Addr, RegisterAddr: n.registerAddrOf(p.ID),
			Suffrage: p.Suffrage, Role: role, Self: p.Self,
		})
	}
	if n.regs != nil {
		doc.Traffic.RegisterConnections = n.regs.count.Load()
	}
	if n.acquirers != nil {
		st := n.acquirers.Default().Link().Stats()
		doc.Acquirer = statusAcq{
			Name: n.cfg.Acquirer.Name, Addr: n.cfg.Acquirer.Addr, Healthy: st.Connected > 0,
			Connected: st.Connected, TimeoutsTotal: st.Timeouts, UnavailableTotal: st.Unavailable,
			LostTotal: st.Lost, ReconnectsTotal: st.Reconnects,
		}
	}

	g := n.gather()
	cur, _ := n.takeSampleFrom(g, now)
	doc.Traffic.TransactionsTotal, doc.Traffic.DeclinedTotal = cur.tx, cur.declined
	doc.Traffic.InFlight, _ = g.sum(inflightMetric, "")
	doc.Traffic.RelayedTotal, doc.Traffic.Relayed = g.sum(relayedMetric, "result")
	doc.Traffic.UnansweredTotal, _ = g.sum(unansMetric, "")

	s := &n.page
	s.mu.Lock()
	old, haveOld := s.baseline(now)
	doc.Declines.Total = s.dtotal
	for i := 1; i <= declineRing; i++ {
		e := s.declines[(s.dnext-i+declineRing)%declineRing]
		if e.at.IsZero() {
			break
		}
		doc.Declines.Recent = append(doc.Declines.Recent, statusDecline{
			Time: e.at.UTC(), Node: n.cfg.ID, Kind: e.kind, RC: e.rc, RCText: rcTexts[e.rc],
			Source: e.source, PAN: e.pan, Terminal: e.terminal, Amount: e.amount, Currency: e.currency,
		})
	}
	s.mu.Unlock()
	if doc.Declines.Recent == nil {
		doc.Declines.Recent = []statusDecline{}
	}

	if haveOld {
		dt := now.Sub(old.at).Seconds()
		doc.Traffic.WindowS = ptr(dt)
		doc.Traffic.TxPerSecond = ptr(math.Max(0, cur.tx-old.tx) / dt)
		doc.Traffic.DeclinesPerSecond = ptr(math.Max(0, cur.declined-old.declined) / dt)
	}
	q := func(name string) statusQuantiles {
		h, ok := cur.hist[name]
		if !ok {
			return statusQuantiles{Scope: "none"}
		}
		scope := "since_start"
		if o, ok := old.hist[name]; haveOld && ok {
			if d := h.minus(o); d.total > 0 {
				h, scope = d, "window"
			}
		}
		if h.total == 0 {
			return statusQuantiles{Scope: "none"}
		}
		return statusQuantiles{Scope: scope, Count: h.total, P50: ms(h.quantile(0.5)), P99: ms(h.quantile(0.99))}
	}
	doc.Latency = statusLatency{Request: q(latencyMetric), Acquirer: q(acquirerMetric), RaftCommit: q(commitMetric)}
	return doc
}

// takeSampleFrom is takeSample on a registry read already made.
func (n *Node) takeSampleFrom(g gathered, at time.Time) (metricSample, bool) {
	tx, declined := g.transactions()
	smp := metricSample{at: at, tx: tx, declined: declined, hist: map[string]histSnap{}}
	for _, name := range []string{latencyMetric, acquirerMetric, commitMetric} {
		if h, ok := g.histogram(name); ok {
			smp.hist[name] = h
		}
	}
	return smp, len(g) > 0
}

// baseline picks the sample rates are measured from: the newest one at least
// statusWindow old, else the oldest one kept, provided it is old enough to
// give a meaningful rate. s.mu must be held.
func (s *statusPage) baseline(now time.Time) (metricSample, bool) {
	var best metricSample
	found := false
	for i := 1; i <= s.scount; i++ {
		smp := s.samples[(s.snext-i+sampleRing)%sampleRing]
		age := now.Sub(smp.at)
		if age < minRateWindow {
			continue
		}
		best, found = smp, true
		if age >= statusWindow {
			break
		}
	}
	return best, found
}

func ptr(f float64) *float64 { return &f }

func ms(sec float64) *float64 {
	if math.IsNaN(sec) {
		return nil
	}
	return ptr(math.Round(sec*1e6) / 1e3)
}
