package simulation

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// waitQuiet polls until the run is quiescent: every register's queue
// empty, and on every node no open INTENT, an empty SAF queue and the
// same applied index and state hash as the others. It never sleeps a
// fixed time instead: a run that does not settle within d fails with what
// was still unsettled.
func waitQuiet(ctx context.Context, e *env, regs []*register, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		why := unsettled(ctx, e, regs)
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) || !sleepCtx(ctx, 250*time.Millisecond) {
			return fmt.Errorf("not quiescent after %v: %s", d, why)
		}
	}
}

// unsettled says what is not settled yet, or "".
func unsettled(ctx context.Context, e *env, regs []*register) string {
	for _, r := range regs {
		if why := r.unsettled(); why != "" {
			return why
		}
	}
	var first adminapi.Hash
	for i, a := range e.admins {
		h, why := nodeUnsettled(ctx, e.nodeID(i), a)
		if why != "" {
			return why
		}
		if i == 0 {
			first = h
			continue
		}
		if h != first {
			return fmt.Sprintf("%s at applied index %d hash %.12s, %s at %d hash %.12s",
				e.nodeID(0), first.AppliedIndex, first.SHA256, e.nodeID(i), h.AppliedIndex, h.SHA256)
		}
	}
	return ""
}

func (r *register) unsettled() string {
	c := r.client()
	if c == nil {
		return "register " + r.tid + " is closed"
	}
	q, err := c.Queued()
	switch {
	case err != nil:
		return fmt.Sprintf("register %s: %v", r.tid, err)
	case len(q) > 0:
		return fmt.Sprintf("register %s holds %d queued entries (first: %s %s for %s, %d attempts)", r.tid, len(q), q[0].MTI, q[0].Key, q[0].Of, q[0].Attempts)
	}
	return ""
}

// nodeUnsettled reads one node's open INTENTs, SAF queues and hash.
func nodeUnsettled(ctx context.Context, id string, a *adminapi.Client) (adminapi.Hash, string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	p, err := a.Txns(ctx, adminapi.TxnQuery{Status: "pending", Limit: 5})
	if err != nil {
		return adminapi.Hash{}, fmt.Sprintf("%s: %v", id, err)
	}
	if len(p.Txns) > 0 {
		var ids []string
		for _, t := range p.Txns {
			ids = append(ids, t.ID)
		}
		return adminapi.Hash{}, fmt.Sprintf("%s has open INTENTs: %s", id, strings.Join(ids, " "))
	}
	st, err := a.Status(ctx)
	if err != nil {
		return adminapi.Hash{}, fmt.Sprintf("%s: %v", id, err)
	}
	for _, q := range st.SAF {
		if q.Depth > 0 {
			return adminapi.Hash{}, fmt.Sprintf("%s: SAF queue of %s holds %d (oldest %s)", id, q.Acquirer, q.Depth, q.Oldest.Format("15:04:05.000"))
		}
	}
	h, err := a.Hash(ctx)
	if err != nil {
		return adminapi.Hash{}, fmt.Sprintf("%s: %v", id, err)
	}
	return h, ""
}
