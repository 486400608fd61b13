package check

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// ErrNotQuiet: a node's state moved while Collect read it. Collect reads
// at quiescence; wait for it (WaitQuiet) and collect again.
var ErrNotQuiet = errors.New("check: cluster not quiet")

// pageSize is the largest page GET /txns serves.
const pageSize = 1000

// Collect reads what Run needs from every node (GET /status, /hash,
// /totals, /leaders and every page of /txns) and, unless acqsimAdmin is
// "", the acquirer simulator's GET /ledger. A node that cannot be read is
// an error: a check that skips a node would pass a run it never saw.
// History, Faults and RegisterQueues are the caller's to fill in.
func Collect(ctx context.Context, nodes []*adminapi.Client, acqsimAdmin string) (Input, error) {
	var in Input
	for _, c := range nodes {
		n, err := collectNode(ctx, c)
		if err != nil {
			return Input{}, err
		}
		in.Nodes = append(in.Nodes, n)
	}
	if acqsimAdmin == "" {
		in.SkipAcquirer = true
		return in, nil
	}
	recs, err := Ledger(ctx, acqsimAdmin)
	if err != nil {
		return Input{}, err
	}
	in.Acquirer = recs
	return in, nil
}

// collectNode reads one node. The hash is read first and last: a node
// whose applied index moved in between was not quiet.
func collectNode(ctx context.Context, c *adminapi.Client) (Node, error) {
	h, err := c.Hash(ctx)
	if err != nil {
		return Node{}, fmt.Errorf("check: node %s: %w", c.Base, err)
	}
	n := Node{AppliedIndex: h.AppliedIndex, Hash: h.SHA256}
	for _, read := range []func(context.Context, *adminapi.Client, *Node) error{readStatus, readTotals, readLeaders, readTxns} {
		if err := read(ctx, c, &n); err != nil {
			return Node{}, fmt.Errorf("check: node %s: %w", c.Base, err)
		}
	}
	h2, err := c.Hash(ctx)
	if err != nil {
		return Node{}, fmt.Errorf("check: node %s: %w", c.Base, err)
	}
	if h2 != h {
		return Node{}, fmt.Errorf("%w: node %s (%s) applied index %d -> %d while it was read", ErrNotQuiet, n.ID, c.Base, h.AppliedIndex, h2.AppliedIndex)
	}
	return n, nil
}

func readStatus(ctx context.Context, c *adminapi.Client, n *Node) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	n.ID = st.ID
	for _, q := range st.SAF {
		n.SAFDepth += q.Depth
	}
	return nil
}

func readTotals(ctx context.Context, c *adminapi.Client, n *Node) error {
	t, err := c.Totals(ctx)
	if err != nil {
		return err
	}
	if t.AppliedIndex != n.AppliedIndex {
		return fmt.Errorf("%w: totals at applied index %d, hash at %d", ErrNotQuiet, t.AppliedIndex, n.AppliedIndex)
	}
	n.Totals = SumsFrom(t.Net)
	return nil
}

func readLeaders(ctx context.Context, c *adminapi.Client, n *Node) error {
	l, err := c.Leaders(ctx)
	if err != nil {
		return err
	}
	for _, s := range l.Seen {
		n.Leaders = append(n.Leaders, Leader{Term: s.Term, LeaderID: s.LeaderID, At: s.At})
	}
	return nil
}

// readTxns reads every page of GET /txns.
func readTxns(ctx context.Context, c *adminapi.Client, n *Node) error {
	q := adminapi.TxnQuery{Limit: pageSize}
	for {
		p, err := c.Txns(ctx, q)
		if err != nil {
			return err
		}
		for _, t := range p.Txns {
			n.Txns = append(n.Txns, TxnFrom(t))
		}
		if p.NextCursor == "" {
			return nil
		}
		if p.NextCursor == q.Cursor {
			return fmt.Errorf("GET /txns: cursor %q does not advance", q.Cursor)
		}
		q.Cursor = p.NextCursor
	}
}

// ledger is the body of acqsim's GET /ledger.
type ledger struct {
	Records []AcqRecord `json:"records"`
}

// Ledger reads every record of the acquirer simulator's GET /ledger; admin
// is its admin address (host:port or a URL).
func Ledger(ctx context.Context, admin string) ([]AcqRecord, error) {
	url := baseURL(admin) + "/ledger"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("check: acqsim ledger: %w", err)
	}
	// No client timeout: a day's ledger is large; ctx bounds the read.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("check: acqsim GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("check: acqsim GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	var l ledger
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, fmt.Errorf("check: acqsim GET %s: decode: %w", url, err)
	}
	return l.Records, nil
}

func baseURL(addr string) string {
	base := strings.TrimRight(addr, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	return base
}

// WaitQuiet polls the nodes until the cluster is quiet: every node at the
// same applied index with the same hash on two polls in a row, no SAF
// entry owed, no transaction pending or unknown. It returns an error
// wrapping ErrNotQuiet and ctx's error, saying why, if ctx ends first;
// never a fixed sleep that passes whatever the state.
func WaitQuiet(ctx context.Context, nodes []*adminapi.Client, poll time.Duration) error {
	var last []adminapi.Hash
	why := "never polled"
	for {
		hashes, now := quietOnce(ctx, nodes)
		if now == "" && equalHashes(last, hashes) {
			return nil
		}
		if ctx.Err() == nil { // a read cut short by ctx says nothing of the cluster
			why = cmp.Or(now, "still applying")
		}
		last = hashes
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrNotQuiet, why, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// quietOnce reads every node once; why is "" when they agree and owe
// nothing.
func quietOnce(ctx context.Context, nodes []*adminapi.Client) (hashes []adminapi.Hash, why string) {
	for _, c := range nodes {
		h, err := c.Hash(ctx)
		if err != nil {
			return nil, err.Error()
		}
		if len(hashes) > 0 && h != hashes[0] {
			return nil, fmt.Sprintf("%s at index %d, %s at index %d (or a different hash)", nodes[0].Base, hashes[0].AppliedIndex, c.Base, h.AppliedIndex)
		}
		hashes = append(hashes, h)
		if why := owes(ctx, c); why != "" {
			return nil, why
		}
	}
	return hashes, ""
}

// owes says what a node still owes: SAF entries, open transactions.
func owes(ctx context.Context, c *adminapi.Client) string {
	st, err := c.Status(ctx)
	if err != nil {
		return err.Error()
	}
	for _, q := range st.SAF {
		if q.Depth > 0 {
			return fmt.Sprintf("%s owes %d SAF entries to %s", c.Base, q.Depth, q.Acquirer)
		}
	}
	for _, status := range []string{statusPending, statusUnknown} {
		p, err := c.Txns(ctx, adminapi.TxnQuery{Status: status, Limit: 1})
		if err != nil {
			return err.Error()
		}
		if len(p.Txns) > 0 {
			return fmt.Sprintf("%s: %s is %s", c.Base, p.Txns[0].ID, status)
		}
	}
	return ""
}

func equalHashes(a, b []adminapi.Hash) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
