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
	timeout time.Duration
	poll    time.Duration
}

func newChecker(o Options) *checker {
	c := &checker{timeout: o.SettleTimeout, poll: 200 * time.Millisecond}
	for _, a := range o.AdminAddrs {
		n := adminapi.NewClient(a)
		n.Token = o.AdminToken
		c.nodes = append(c.nodes, n)
	}
	if o.AcqsimAdmin != "" {
		c.acqsim = strings.TrimRight(o.AcqsimAdmin, "/")
		if !strings.Contains(c.acqsim, "://") {
			c.acqsim = "http://" + c.acqsim
		}
	}
	return c
}

// run checks, in order: the nodes converge (same hash at the same applied
// index, twice in a row), then every node's totals equal the acquirer's.
func (c *checker) run(ctx context.Context) []Check {
	conv := c.until(ctx, "replicas converge (same /hash at the same applied index)", c.converged)
	if c.acqsim == "" {
		return []Check{conv, {Name: "cluster totals equal acqsim totals", Skip: true, Detail: "no acqsim admin address"}}
	}
	return []Check{conv, c.until(ctx, "cluster totals equal acqsim totals", c.totalsMatch)}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.acqsim+"/totals", nil)
	if err != nil {
		return nil, fmt.Errorf("bench: acqsim totals: %w", err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: acqsim totals: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: acqsim totals: %s", resp.Status)
	}
	var t struct {
		Net map[string]adminapi.Sum `json:"net"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return nil, fmt.Errorf("bench: acqsim totals: %w", err)
	}
	return t.Net, nil
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
