package node_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/wire"
)

// sample is one line of the Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrapeAfterPurchase starts a one-node cluster, makes one approved
// purchase through the register port and returns the node's /metrics
// (parsed) and the request that was sent.
func scrapeAfterPurchase(t *testing.T) ([]sample, *wire.Message) {
	t.Helper()
	_, regAddr, adminAddr := singleAdmin(t)
	c := dial(t, regAddr)
	req := purchase(4200)
	if resp := c.roundTrip(req); resp.ResponseCode != wire.RCApproved {
		t.Fatalf("purchase: RC %s, want 00", resp.ResponseCode)
	}
	return scrape(t, "http://"+adminAddr+"/metrics"), req
}

func scrape(t *testing.T, url string) []sample {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		smp, err := parseSample(line)
		if err != nil {
			t.Fatalf("scrape line %q: %v", line, err)
		}
		out = append(out, smp)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// parseSample reads `name{a="x",b="y"} value` (no timestamps: client_golang
// writes none).
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			if line == "" {
				return s, fmt.Errorf("unterminated labels")
			}
			if line[0] == '}' {
				line = line[1:]
				break
			}
			if line[0] == ',' {
				line = line[1:]
				continue
			}
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return s, fmt.Errorf("bad label")
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			for {
				if line == "" {
					return s, fmt.Errorf("unterminated label value")
				}
				ch := line[0]
				line = line[1:]
				if ch == '"' {
					break
				}
				if ch == '\\' && line != "" {
					switch line[0] {
					case 'n':
						ch = '\n'
					default:
						ch = line[0]
					}
					line = line[1:]
				}
				val.WriteByte(ch)
			}
			s.labels[key] = val.String()
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(line), 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// find returns the value of the one sample named name whose labels include
// want; it fails the test when there is none or more than one.
func find(t *testing.T, all []sample, name string, want map[string]string) float64 {
	t.Helper()
	var hits []sample
next:
	for _, s := range all {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		hits = append(hits, s)
	}
	if len(hits) != 1 {
		t.Fatalf("%s%v: %d samples, want exactly 1 (%v)", name, want, len(hits), hits)
	}
	return hits[0].value
}

func TestMetricsScrape(t *testing.T) {
	all, req := scrapeAfterPurchase(t)
	l := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	type check struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}
	eq := func(x float64) func(float64) bool { return func(v float64) bool { return v == x } }
	ge := func(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
	checks := []check{
		{"tillgate_transactions_total", l("kind", "purchase", "rc", "00", "source", "acquirer"), eq(1), "1"},
		{"tillgate_active", nil, eq(1), "1"},
		{"tillgate_requests_in_flight", nil, eq(0), "0"},
		{"tillgate_register_connections", nil, eq(1), "1"},
		{"tillgate_request_duration_seconds_count", nil, eq(1), "1"},
		{"tillgate_acquirer_duration_seconds_count", nil, eq(1), "1"},
		{"tillgate_raft_commit_duration_seconds_count", nil, ge(2), ">= 2 (INTENT and OUTCOME)"},
		{"tillgate_request_duration_seconds_bucket", l("le", "+Inf"), eq(1), "1"},
		{"tillgate_acquirer_errors_total", l("kind", "unknown"), eq(0), "0 (pre-initialised)"},
		{"tillgate_malformed_requests_total", l("reason", "frame"), eq(0), "0"},
		{"tillgate_relayed_requests_total", l("result", "answered"), eq(0), "0 on the active"},
		{"tillgate_not_processed_total", nil, eq(0), "0"},

		{"tillgate_node_info", l("id", "node1"), eq(1), "1"},
		{"tillgate_raft_role", l("role", "leader"), eq(1), "1"},
		{"tillgate_raft_role", l("role", "follower"), eq(0), "0"},
		{"tillgate_raft_role", l("role", "candidate"), eq(0), "0"},
		{"tillgate_raft_leader_known", nil, eq(1), "1"},
		{"tillgate_raft_term", nil, ge(1), ">= 1"},
		{"tillgate_raft_applied_index", nil, ge(3), ">= 3 (configuration, INTENT, OUTCOME)"},
		{"tillgate_raft_commit_index", nil, ge(3), ">= 3"},
		{"tillgate_raft_last_index", nil, ge(3), ">= 3"},
		{"tillgate_raft_last_snapshot_index", nil, eq(0), "0 (no snapshot yet)"},
		{"tillgate_state_applied_index", nil, ge(2), ">= 2"},
		{"tillgate_raft_last_contact_seconds", nil, eq(0), "0 on the leader"},
		{"tillgate_raft_peer_info", l("peer", "node1", "suffrage", "voter", "self", "true"), eq(1), "1"},
		{"tillgate_raft_peer_leader", l("peer", "node1"), eq(1), "1"},

		{"tillgate_acquirer_link_up", l("acquirer", "acquirer"), eq(1), "1"},
		{"tillgate_acquirer_link_connections", nil, ge(1), ">= 1"},
		{"tillgate_acquirer_link_connections_configured", nil, eq(4), "4 (default)"},
		{"tillgate_acquirer_link_sent_total", nil, eq(1), "1"},
		{"tillgate_acquirer_link_answered_total", nil, eq(1), "1"},
		{"tillgate_acquirer_link_timeouts_total", nil, eq(0), "0"},
		{"tillgate_acquirer_link_late_answers_total", nil, eq(0), "0"},
		{"tillgate_acquirer_link_reconnects_total", nil, ge(0), ">= 0"},
		{"tillgate_acquirer_link_echoes_total", nil, ge(0), ">= 0"},
		{"tillgate_acquirer_link_errors_total", l("kind", "lost"), eq(0), "0"},
		{"tillgate_acquirer_link_errors_total", l("kind", "unavailable"), eq(0), "0"},
		{"tillgate_acquirer_link_errors_total", l("kind", "echo_failure"), eq(0), "0"},
		{"tillgate_acquirer_link_errors_total", l("kind", "malformed"), eq(0), "0"},
		{"tillgate_relay_connections", nil, eq(0), "0 on the active"},

		{"go_goroutines", nil, ge(1), ">= 1"},
		{"process_resident_memory_bytes", nil, ge(1), "> 0"},
	}
	for _, c := range checks {
		if v := find(t, all, c.name, c.labels); !c.ok(v) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
		}
	}
	// applied <= commit <= last on one node.
	applied := find(t, all, "tillgate_raft_applied_index", nil)
	commit := find(t, all, "tillgate_raft_commit_index", nil)
	last := find(t, all, "tillgate_raft_last_index", nil)
	if applied > commit || commit > last {
		t.Errorf("raft indexes applied %v commit %v last %v, want applied <= commit <= last", applied, commit, last)
	}

	// Nothing that identifies a card, a transaction or a register is a
	// label: no PAN-like value, no terminal id, no STAN, no such label name.
	panLike := regexp.MustCompile(`\d{12,19}`)
	for _, s := range all {
		if !strings.HasPrefix(s.name, "tillgate_") && !strings.HasPrefix(s.name, "go_") && !strings.HasPrefix(s.name, "process_") {
			t.Errorf("series %s: want the tillgate_ prefix (or the Go/process collectors)", s.name)
		}
		for k, v := range s.labels {
			switch strings.ToLower(k) {
			case "pan", "stan", "terminal", "terminal_id", "tid", "card":
				t.Errorf("%s has a label %q", s.name, k)
			}
			if panLike.MatchString(v) || strings.Contains(v, req.PAN) || strings.Contains(v, req.TerminalID) ||
				strings.Contains(v, req.MerchantID) || v == req.STAN || v == req.RRN {
				t.Errorf("%s{%s=%q}: a card, terminal or transaction identifier as a label value", s.name, k, v)
			}
		}
	}
}

// TestDashboardSeriesExist keeps deploy/grafana/tillgate.json (and the
// Prometheus alert rules) honest: every tillgate_ series an expression
// names must be one a running node exports.
func TestDashboardSeriesExist(t *testing.T) {
	all, _ := scrapeAfterPurchase(t)
	have := map[string]bool{}
	for _, s := range all {
		have[s.name] = true
	}

	b, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "tillgate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("deploy/grafana/tillgate.json: %v", err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(dash)
	if len(exprs) < 20 {
		t.Fatalf("dashboard has %d expressions; the walk must have missed the panels", len(exprs))
	}

	rules, err := os.ReadFile(filepath.Join("..", "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	exprs = append(exprs, string(rules))

	name := regexp.MustCompile(`\b(?:tillgate|go|process)_[a-zA-Z0-9_]+`)
	used := map[string]bool{}
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			used[n] = true
		}
	}
	var missing []string
	for n := range used {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard or alert rules use series no node exports: %v", missing)
	}
	if !used["tillgate_raft_role"] || !used["tillgate_transactions_total"] {
		t.Errorf("the dashboard misses the core series; used: %v", used)
	}
}

// TestRestartOnTheSameRegistry: every part of a node registers its series
// on the node's registerer, which takes them back on Close, so a node
// restarted in the same process on the same registry (the demo, the
// tests) registers them again without a clash.
func TestRestartOnTheSameRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	cl := adminCluster(t, 1, func(c *node.Config) { c.Registry = reg })
	for range 2 {
		if err := cl.StopNode(0); err != nil {
			t.Fatal(err)
		}
		if err := cl.StartNode(0); err != nil {
			t.Fatalf("restart on the same registry: %v", err)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fams {
		seen[f.GetName()] = true
	}
	for _, name := range []string{"tillgate_acquirer_errors_total", "tillgate_request_duration_seconds", "tillgate_takeovers_total",
		"tillgate_saf_queue_depth", "tillgate_day_cutovers_total", "tillgate_acquirer_link_up", "tillgate_relay_connections", "tillgate_node_info"} {
		if !seen[name] {
			t.Errorf("%s not registered after the restarts", name)
		}
	}
}
