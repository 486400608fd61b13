package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// checker checks the invariants through the admin APIs once the load has
// stopped.
type checker struct {
	nodes   []*adminapi.Client
	acqsim  string // base URL, "" to skip
	faults  bool   // faults were injected: acqsim duplicates are expected
	term0   uint64 // the highest Raft term before the load
	timeout time.Duration
	poll    time.Duration
}

func newChecker(o Options, faults bool) *checker {
	c := &checker{timeout: o.SettleTimeout, poll: 200 * time.Millisecond, faults: faults}
	for _, a := range o.AdminAddrs {
		n := adminapi.NewClient(a)
		n.Token = o.AdminToken
		c.nodes = append(c.nodes, n)
	}
	if o.AcqsimAdmin != "" {
		c.acqsim = baseURL(o.AcqsimAdmin)
	}
	return c
}

// begin notes the Raft term before the load, to tell takeovers later.
func (c *checker) begin(ctx context.Context) { c.term0 = c.maxTerm(ctx) }

// maxTerm is the highest term any node reports (0 if none answers).
func (c *checker) maxTerm(ctx context.Context) uint64 {
	var t uint64
	for _, n := range c.nodes {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := n.Status(ctx)
		cancel()
		if err == nil {
			t = max(t, st.Term)
		}
	}
	return t
}

// run checks, in order: no INTENT is left open, the nodes converge (same
// hash at the same applied index, twice in a row), every node's totals
// equal the acquirer's, and the acquirer saw no duplicate.
func (c *checker) run(ctx context.Context) []Check {
	checks := []Check{
		c.until(ctx, "no INTENT left without an OUTCOME", c.noneOpen),
		c.until(ctx, "replicas converge (same /hash at the same applied index)", c.converged),
	}
	if c.acqsim == "" {
		skip := Check{Skip: true, Detail: "no acqsim admin address"}
		a, b := skip, skip
		a.Name, b.Name = "cluster totals equal acqsim totals", "acqsim saw no duplicate (after a takeover: its repeats only)"
		return append(checks, a, b)
	}
	return append(checks, c.until(ctx, "cluster totals equal acqsim totals", c.totalsMatch), c.duplicates(ctx))
}

// noneOpen reports a node that still holds a pending transaction.
func (c *checker) noneOpen(ctx context.Context) string {
	for _, n := range c.nodes {
		p, err := n.Txns(ctx, adminapi.TxnQuery{Status: "pending", Limit: 1})
		if err != nil {
			return err.Error()
		}
		if len(p.Txns) > 0 {
			return fmt.Sprintf("%s: %s is pending", n.Base, p.Txns[0].ID)
		}
	}
	return ""
}

// duplicates checks acqsim's count of requests whose identity it had
// already answered. With one active all along there must be none: the
// cluster never asks the acquirer twice. After a takeover (an injected
// fault, or an election the run caused: the Raft term moved), the new
// active repeats (xx01) the INTENTs the old one left open, and the
// acquirer answers them from its ledger with no second effect (the totals
// check proves that): they are counted, not failed.
func (c *checker) duplicates(ctx context.Context) Check {
	ch := Check{Name: "acqsim saw no duplicate (after a takeover: its repeats only)"}
	st, err := c.acqsimStats(ctx)
	term := c.maxTerm(ctx)
	switch {
	case err != nil:
		ch.Detail = err.Error()
	case st.Duplicates == 0:
		ch.Pass = true
	case c.faults || term > c.term0:
		ch.Pass = true
		ch.Detail = fmt.Sprintf("%d repeats answered from acqsim's ledger after takeovers (Raft term %d to %d; no second effect)",
			st.Duplicates, c.term0, term)
	default:
		ch.Detail = fmt.Sprintf("%d requests whose identity acqsim had already answered, with one active all along (term %d)", st.Duplicates, term)
	}
	return ch
}

// until polls fn until it reports "" or the timeout passes.
func (c *checker) until(ctx context.Context, name string, fn func(context.Context) string) Check {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for {
		detail := fn(ctx)
		if detail == "" {
			return Check{Name: name, Pass: true}
		}
		select {
		case <-ctx.Done():
			return Check{Name: name, Detail: detail}
		case <-time.After(c.poll):
		}
	}
}

// converged reports why the nodes differ, "" when they agree twice in a row.
func (c *checker) converged(ctx context.Context) string {
	first, why := c.hashes(ctx)
	if why != "" {
		return why
	}
	time.Sleep(c.poll)
	second, why := c.hashes(ctx)
	if why != "" {
		return why
	}
	if first != second {
		return "still applying"
	}
	return ""
}

// hashes returns the common hash of every node, or why there is none.
func (c *checker) hashes(ctx context.Context) (adminapi.Hash, string) {
	var h0 adminapi.Hash
	for i, n := range c.nodes {
		h, err := n.Hash(ctx)
		if err != nil {
			return h0, err.Error()
		}
		if i == 0 {
			h0 = h
			continue
		}
		if h.AppliedIndex != h0.AppliedIndex {
			return h0, fmt.Sprintf("%s applied %d, %s applied %d", c.nodes[0].Base, h0.AppliedIndex, n.Base, h.AppliedIndex)
		}
		if h.SHA256 != h0.SHA256 {
			return h0, fmt.Sprintf("hash of %s differs from %s at index %d", n.Base, c.nodes[0].Base, h.AppliedIndex)
		}
	}
	return h0, ""
}

// totalsMatch compares every node's /totals with acqsim's.
func (c *checker) totalsMatch(ctx context.Context) string {
	want, err := c.acqsimTotals(ctx)
	if err != nil {
		return err.Error()
	}
	for _, n := range c.nodes {
		got, err := n.Totals(ctx)
		if err != nil {
			return err.Error()
		}
		if !sameSums(got.Net, want) {
			return fmt.Sprintf("%s totals %s, acqsim %s", n.Base, fmtSums(got.Net), fmtSums(want))
		}
	}
	return ""
}

// acqsimTotals reads GET /totals of acqsim's admin API.
func (c *checker) acqsimTotals(ctx context.Context) (map[string]adminapi.Sum, error) {
	var t struct {
		Net map[string]adminapi.Sum `json:"net"`
	}
	err := c.acqsimGet(ctx, "/totals", &t)
	return t.Net, err
}

// acqsimStats are the counters of acqsim's GET /stats.
type acqsimStats struct {
	Requests   int64 `json:"Requests"`
	Duplicates int64 `json:"Duplicates"`
}

func (c *checker) acqsimStats(ctx context.Context) (acqsimStats, error) {
	var st acqsimStats
	err := c.acqsimGet(ctx, "/stats", &st)
	return st, err
}

func (c *checker) acqsimGet(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.acqsim+path, nil)
	if err != nil {
		return fmt.Errorf("bench: acqsim %s: %w", path, err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("bench: acqsim %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: acqsim %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("bench: acqsim %s: %w", path, err)
	}
	return nil
}

// sameSums compares net totals, a missing kind counting as zero.
func sameSums(a, b map[string]adminapi.Sum) bool {
	nz := func(m map[string]adminapi.Sum) map[string]adminapi.Sum {
		out := map[string]adminapi.Sum{}
		for k, v := range m {
			if v != (adminapi.Sum{}) {
				out[k] = v
			}
		}
		return out
	}
	return maps.Equal(nz(a), nz(b))
}

func fmtSums(m map[string]adminapi.Sum) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d/%d", k, m[k].Count, m[k].Amount))
	}
	return "{" + strings.Join(parts, " ") + "}"
}
