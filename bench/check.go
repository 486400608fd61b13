package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/node/adminapi"
)

// shownViolations bounds the violations a report carries in full (the
// text report prints fewer: check.Report.String).
const shownViolations = 50

// checker judges a run through the admin APIs once the load has stopped:
// the per-identity checker (package check) over the registers' history,
// every node and acqsim's ledger; then the business day's close.
type checker struct {
	nodes   []*adminapi.Client
	acqsim  string // base URL, "" without acqsim
	term0   uint64 // the highest Raft term before the load
	timeout time.Duration
	poll    time.Duration
	// base is what the cluster and acqsim held before the run.
	base *baseline
}

func newChecker(o Options) *checker {
	c := &checker{timeout: o.SettleTimeout, poll: 200 * time.Millisecond}
	c.nodes = o.adminClients()
	if o.AcqsimAdmin != "" {
		c.acqsim = baseURL(o.AcqsimAdmin)
	}
	return c
}

// begin notes the Raft term before the load, to tell takeovers later, and
// what the cluster already holds: a cluster that served before is judged
// on what this run adds (baseline.go). A cluster that cannot be read at
// rest now could not be judged at the end either: that is an error.
func (c *checker) begin(ctx context.Context) error {
	c.term0 = c.maxTerm(ctx)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := check.WaitQuiet(ctx, c.nodes, c.poll); err != nil {
		return fmt.Errorf("bench: the cluster is not at rest before the run: %w", err)
	}
	in, err := check.Collect(ctx, c.nodes, c.acqsim)
	if err != nil {
		return fmt.Errorf("bench: read the cluster before the run: %w", err)
	}
	c.base = newBaseline(in)
	return nil
}

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

// Verdict is the per-identity checker's judgement of a run (package
// check): the identities by what the registers hold, the violations by
// invariant and the first ones in full, each with the identity's history.
type Verdict struct {
	OK      bool   `json:"ok"`
	Summary string `json:"summary"` // check.Report.Summary
	// Quiet is "" once the cluster reached quiescence (no INTENT open, no
	// SAF entry owed, every node at one applied index and hash), else why
	// it did not within the settle timeout.
	Quiet       string         `json:"quiet,omitempty"`
	Identities  int            `json:"identities"`
	Approved    int            `json:"approved"`
	Declined    int            `json:"declined"`
	Unknown     int            `json:"unknown"`
	NotSent     int            `json:"not_sent"`
	Reversed    int            `json:"reversed"`
	Nodes       int            `json:"nodes"`
	AcqRecords  int            `json:"acquirer_records"`
	Faults      int            `json:"faults"`
	ByInvariant map[string]int `json:"by_invariant,omitempty"`
	// Skipped names the rules not checked, and why (never silently).
	Skipped    []string `json:"skipped,omitempty"`
	Violations int      `json:"violations"`
	// First are the first violations in full.
	First []check.Violation `json:"first_violations,omitempty"`
	// Text is the checker's own report: the summary and the first
	// violations with what every node and acqsim hold and the history.
	Text string `json:"text"`
	// Err: the nodes or acqsim could not be read; there is no verdict.
	Err string `json:"error,omitempty"`
}

// verifyInput is what the run hands to the checker besides the cluster.
type verifyInput struct {
	History        []history.Event
	Faults         []check.Fault
	RegisterQueues int
	// AtRest are files the cluster wrote (data dirs, logs) to scan for
	// clear card data (I8); none for a cluster that is not ours.
	AtRest  []string
	Secrets []string
}

// verify waits for quiescence, reads every node and acqsim, and runs the
// checker over them and the registers' history.
func (c *checker) verify(ctx context.Context, vi verifyInput) *Verdict {
	ctx, cancel := context.WithTimeout(ctx, 2*c.timeout)
	defer cancel()
	v := &Verdict{}
	qctx, qcancel := context.WithTimeout(ctx, c.timeout)
	if err := check.WaitQuiet(qctx, c.nodes, c.poll); err != nil {
		v.Quiet = err.Error()
	}
	qcancel()
	in, err := c.collect(ctx)
	if err != nil {
		v.Err = err.Error()
		return v
	}
	in.History, in.Faults, in.RegisterQueues = vi.History, vi.Faults, vi.RegisterQueues
	note := c.base.subtract(&in)
	rep := check.Run(in)
	if note != "" {
		rep.Skipped = append(rep.Skipped, note)
	}
	if len(vi.AtRest) > 0 {
		rep.Violations = append(rep.Violations, check.ScanFiles(vi.AtRest, vi.Secrets)...)
	} else {
		rep.Skipped = append(rep.Skipped, "I8: the cluster's files are not ours to scan (tillbench run): no scan for card data at rest")
	}
	v.fill(rep)
	return v
}

// collect reads the cluster; a node whose state moved while it was read
// (ErrNotQuiet: the quiescence wait ran out) is read again while time is
// left.
func (c *checker) collect(ctx context.Context) (check.Input, error) {
	for {
		in, err := check.Collect(ctx, c.nodes, c.acqsim)
		if !errors.Is(err, check.ErrNotQuiet) || ctx.Err() != nil {
			return in, err
		}
		select {
		case <-ctx.Done():
			return in, err
		case <-time.After(c.poll):
		}
	}
}

func (v *Verdict) fill(rep check.Report) {
	v.OK, v.Summary, v.Text = rep.OK(), rep.Summary(), rep.String()
	v.Identities, v.Approved, v.Declined, v.Unknown = rep.Identities, rep.Approved, rep.Declined, rep.Unknown
	v.NotSent, v.Reversed, v.Nodes, v.AcqRecords, v.Faults = rep.NotSent, rep.Reversed, rep.Nodes, rep.AcqRecords, rep.Faults
	v.ByInvariant, v.Skipped, v.Violations = rep.ByInvariant(), rep.Skipped, len(rep.Violations)
	v.First = rep.Violations[:min(shownViolations, len(rep.Violations))]
}

// checks are the verdict's lines among the run's checks.
func (v *Verdict) checks() []Check {
	quiet := Check{Name: "cluster quiet: no INTENT open, no SAF entry owed, every node at one applied index and hash", Pass: v.Quiet == ""}
	quiet.Detail = v.Quiet
	ident := Check{Name: "per-identity check (I1-I8): the registers' history against every node and acqsim's ledger"}
	switch {
	case v.Err != "":
		ident.Detail = "no verdict: " + v.Err
	default:
		ident.Pass, ident.Detail = v.OK, v.Summary
	}
	return []Check{quiet, ident}
}

// AcqsimStats are the counters of acqsim's GET /stats that strict mode
// adds: what a real host would have refused or complained of.
type AcqsimStats struct {
	Requests         int64 `json:"Requests"`
	Duplicates       int64 `json:"Duplicates"`
	Refused          int64 `json:"Refused"`
	STANReuse        int64 `json:"STANReuse"`
	UnknownOriginal  int64 `json:"UnknownOriginal"`
	HostEchoes       int64 `json:"HostEchoes"`
	HostEchoTimeouts int64 `json:"HostEchoTimeouts"`
}

// strictCheck reads acqsim's counters: a connection it closed because the
// node left its echo unanswered fails the run (a real host would have
// dropped the link), unless a node was paused (SIGSTOP: a stopped process
// answers nothing) or cut off from the acquirer on the network: then the
// host rightly closes its links. 94s are the
// checker's (I2); 25s are counted.
func (c *checker) strictCheck(ctx context.Context, faults []check.Fault) (*AcqsimStats, Check) {
	ch := Check{Name: "acqsim (strict): every host echo answered"}
	if c.acqsim == "" {
		ch.Skip, ch.Detail = true, "no acqsim admin address"
		return nil, ch
	}
	var st AcqsimStats
	if err := c.acqsimGet(ctx, "/stats", &st); err != nil {
		ch.Detail = err.Error()
		return nil, ch
	}
	paused := slices.ContainsFunc(faults, func(f check.Fault) bool { return silencesAcquirer(f.Kind) })
	ch.Pass = st.HostEchoTimeouts == 0 || paused
	ch.Detail = fmt.Sprintf("host echoes %d, connections closed for an unanswered echo %d; refused (94) %d (STAN reuse %d); 25 (unknown original) %d; repeats answered from the ledger %d",
		st.HostEchoes, st.HostEchoTimeouts, st.Refused, st.STANReuse, st.UnknownOriginal, st.Duplicates)
	if st.HostEchoTimeouts > 0 && paused {
		ch.Detail += " (a node was paused or cut off from the acquirer: its links could not answer)"
	}
	if st.HostEchoes == 0 {
		ch.Detail += " (no host echo sent: is acqsim running --strict, with an --echo-every shorter than the run?)"
	}
	return &st, ch
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
