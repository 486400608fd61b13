package admin

import (
	"context"
	_ "embed"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/node/internal/card"
	"github.com/tillgate/tillgate/node/pipeline"
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

// StatusPage is the page's own state: a ring of the recent declines it
// learns as a pipeline.Observer, and a ring of metric samples that its Run
// takes once a second.
type StatusPage struct {
	gatherer prometheus.Gatherer

	mu            sync.Mutex
	declines      [declineRing]declineEntry
	nextDecline   int    // next slot in declines
	declinesTotal uint64 // declines recorded since start
	samples       [sampleRing]metricSample
	nextSample    int // next slot in samples
	sampleCount   int // slots filled
}

// NewStatusPage returns a page that reads its figures from g: the node's
// registry, the same figures /metrics serves.
func NewStatusPage(g prometheus.Gatherer) *StatusPage { return &StatusPage{gatherer: g} }

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

// Answered records a declined answer for the page (a pipeline.Observer). It
// returns at once for approvals. It keeps only what an operator may see:
// the masked PAN, never track, PIN or the clear PAN.
func (p *StatusPage) Answered(o pipeline.Outcome) {
	req, t := o.Request, o.Txn
	if t.RC == wire.RCApproved {
		return
	}
	pan := wire.MaskPAN(card.Number(req))
	if pan == "" && t.BIN != "" {
		pan = t.BIN + "******" + t.Last4
	}
	e := declineEntry{
		at: time.Now(), kind: o.Kind, rc: t.RC, source: o.Source, pan: pan,
		terminal: req.TerminalID, amount: req.Amount, currency: req.Currency,
	}
	p.mu.Lock()
	p.declines[p.nextDecline] = e
	p.nextDecline = (p.nextDecline + 1) % declineRing
	p.declinesTotal++
	p.mu.Unlock()
}

// pageCSP allows the inline style and script of the page, fetches to this
// origin only, and nothing from anywhere else.
const pageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
	"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(statusPageHTML)
}

// Run keeps a second-by-second history of the counters and histograms the
// page turns into rates and windowed percentiles, until ctx ends.
func (p *StatusPage) Run(ctx context.Context) {
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		if smp, ok := p.takeSample(); ok {
			p.mu.Lock()
			p.samples[p.nextSample] = smp
			p.nextSample = (p.nextSample + 1) % sampleRing
			if p.sampleCount < sampleRing {
				p.sampleCount++
			}
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *StatusPage) takeSample() (metricSample, bool) {
	return takeSampleFrom(p.gather(), time.Now())
}

// recent is the declines kept, newest first, and how many there were since
// start; and the sample rates are measured from (baseline).
func (p *StatusPage) recent(now time.Time) (declines []declineEntry, total uint64, old metricSample, haveOld bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 1; i <= declineRing; i++ {
		e := p.declines[(p.nextDecline-i+declineRing)%declineRing]
		if e.at.IsZero() {
			break
		}
		declines = append(declines, e)
	}
	old, haveOld = p.baseline(now)
	return declines, p.declinesTotal, old, haveOld
}

// baseline picks the sample rates are measured from: the newest one at least
// statusWindow old, else the oldest one kept, provided it is old enough to
// give a meaningful rate. p.mu must be held.
func (p *StatusPage) baseline(now time.Time) (metricSample, bool) {
	var best metricSample
	found := false
	for i := 1; i <= p.sampleCount; i++ {
		smp := p.samples[(p.nextSample-i+sampleRing)%sampleRing]
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
