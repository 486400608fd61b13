package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// CloseDay is the operator's close of a business day, as tillctl's day
// commands do it one by one: the demo and tillbench share it so that both
// close a day the same way.

// DayCloseOptions say how CloseDay reconciles the day's files.
type DayCloseOptions struct {
	// Export returns the acquirer's settlement export (its CSV) of the
	// window [from, to]. Nil: the files are not reconciled.
	Export func(ctx context.Context, acquirer string, from, to time.Time) ([]byte, error)
	// Before and After widen the day's window for the export: a request
	// committed just before the opening or the cutover reaches the
	// acquirer a little later. The acquirer's rows of the neighbouring
	// days that the margins take in are matched to their own day, not
	// counted as discrepancies. With After set, the export waits until
	// the window has ended.
	Before, After time.Duration
	// Poll is the pause between reads while waiting for a state (default
	// 200 ms); ctx bounds the whole close.
	Poll time.Duration
}

// ClosedDay is what CloseDay did.
type ClosedDay struct {
	// Cutover is its answer (Opened is empty when the answer was lost and
	// a retry found the day closed).
	Cutover CutoverResult
	// Day is the closed day as read once settled with its files.
	Day Day
	// Settled is the time from the cutover's answer to that read.
	Settled time.Duration
	Files   []ClosedFile
}

// ClosedFile is one settlement file of the day and its reconciliation.
type ClosedFile struct {
	File DayFile
	// Recon is the reconciliation with the acquirer's export, recorded at
	// the leader (Recorded is then true); nil when not reconciled.
	Recon *Reconciled
	// Err says which step of this file's reconciliation failed.
	Err error
}

// CloseDay cuts the open business day over on whichever of nodes leads,
// waits until the closed day is settled with its files, then reconciles
// each file with opts.Export's file of the day's window on a standby that
// has applied the settlement (matching a big day is heavy: the leader
// keeps serving) and records the outcome on the leader unless the
// standby's call did. Its error names the step of the day that failed
// (the cutover, the settlement); a file's failure is in its ClosedFile.
//
// The day counts as settled once one file is recorded: a client cannot
// tell how many acquirers the nodes are configured with.
func CloseDay(ctx context.Context, nodes []*Client, opts DayCloseOptions) (ClosedDay, error) {
	if len(nodes) == 0 {
		return ClosedDay{}, errors.New("adminapi: close day: no nodes")
	}
	if opts.Poll <= 0 {
		opts.Poll = 200 * time.Millisecond
	}
	dc := &dayCloser{nodes: nodes, o: opts}
	var out ClosedDay
	var err error
	if out.Cutover, err = dc.cutover(ctx); err != nil {
		return out, fmt.Errorf("adminapi: close day: cutover: %w", err)
	}
	cut := time.Now()
	if out.Day, err = dc.settled(ctx, out.Cutover.Closed); err != nil {
		return out, fmt.Errorf("adminapi: close day %s: wait until settled with its files: %w", out.Cutover.Closed, err)
	}
	out.Settled = time.Since(cut)
	for _, f := range out.Day.Files {
		cf := ClosedFile{File: f}
		if opts.Export != nil {
			if cf.Recon, err = dc.reconcile(ctx, out.Day, f.Acquirer); err != nil {
				cf.Err = fmt.Errorf("adminapi: close day %s: %w", out.Day.Day, err)
			}
		}
		out.Files = append(out.Files, cf)
	}
	return out, nil
}

type dayCloser struct {
	nodes []*Client
	o     DayCloseOptions
}

// cutover closes the day open now. The request names it, so that a retry
// on another node after no answer cannot close the next day too.
func (dc *dayCloser) cutover(ctx context.Context) (CutoverResult, error) {
	// The leader's open day: a standby behind it may still have one open
	// that the leader closed.
	var open string
	if err := dc.until(ctx, func() error {
		var last error
		for _, c := range dc.nodes {
			st, err := c.Status(ctx)
			if err != nil {
				last = err
			}
			if err != nil || st.Role != "leader" {
				continue
			}
			d, err := c.Days(ctx)
			open = d.Open
			return err
		}
		if last != nil {
			return fmt.Errorf("no node is the leader: %w", last)
		}
		return errors.New("no node is the leader")
	}); err != nil {
		return CutoverResult{}, fmt.Errorf("read the open day: %w", err)
	}
	if open == "" {
		return CutoverResult{}, errors.New("no business day is open yet (it opens with the first transaction)")
	}
	var r CutoverResult
	unanswered := false
	err := dc.onLeader(ctx, func(c *Client) (err error) {
		r, err = c.Cutover(ctx, open)
		var ue *UnreachableError
		if errors.As(err, &ue) {
			unanswered = true
		}
		return err
	})
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusConflict && unanswered {
		// An earlier attempt closed it and its answer was lost.
		return CutoverResult{Closed: open}, nil
	}
	if err != nil {
		return r, fmt.Errorf("day %s: %w", open, err)
	}
	return r, nil
}

// settled waits until a node reads day as settled with its files.
func (dc *dayCloser) settled(ctx context.Context, day string) (Day, error) {
	var d Day
	err := dc.until(ctx, func() error {
		return dc.read(ctx, func(c *Client) (err error) {
			if d, err = c.Day(ctx, day); err != nil {
				return err
			}
			if d.Status != "settled" || len(d.Files) == 0 || d.ClosedAt == nil {
				return fmt.Errorf("day %s is %s with %d files", d.Day, d.Status, len(d.Files))
			}
			return nil
		})
	})
	return d, err
}

// reconcile matches the acquirer's export of the day's window on a
// standby and records the outcome on the leader.
func (dc *dayCloser) reconcile(ctx context.Context, d Day, acquirer string) (*Reconciled, error) {
	from, to := d.OpenedAt.Add(-dc.o.Before), d.ClosedAt.Add(dc.o.After)
	if wait := time.Until(to); wait > 0 {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the end of the export's window %s: %w", to.Format(time.RFC3339Nano), ctx.Err())
		case <-time.After(wait):
		}
	}
	file, err := dc.o.Export(ctx, acquirer, from, to)
	if err != nil {
		return nil, fmt.Errorf("export %s's settlement of %s to %s: %w", acquirer, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), err)
	}
	sb, err := dc.standby(ctx, d.Day)
	if err != nil {
		return nil, fmt.Errorf("find a node that applied the settlement of %s: %w", d.Day, err)
	}
	r, err := sb.Reconcile(ctx, d.Day, acquirer, file)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s on %s: %w", acquirer, sb.Base, err)
	}
	if !r.Recorded {
		if err := dc.onLeader(ctx, func(c *Client) error {
			_, err := c.RecordReconciliation(ctx, d.Day, r)
			return err
		}); err != nil {
			return &r, fmt.Errorf("record the reconciliation of %s on the leader: %w", acquirer, err)
		}
		r.Recorded = true
	}
	return &r, nil
}

// standby is a node that is not the leader and has applied the day's
// settlement; the leader only when no standby answers (one node).
func (dc *dayCloser) standby(ctx context.Context, day string) (*Client, error) {
	var sb *Client
	err := dc.until(ctx, func() error {
		var leader *Client
		standbys := 0
		var last error
		for _, c := range dc.nodes {
			st, err := c.Status(ctx)
			if err != nil {
				last = err
				continue
			}
			applied := false
			if d, err := c.Day(ctx, day); err == nil && d.Status == "settled" {
				applied = true
			} else if err != nil {
				last = err
			}
			switch {
			case st.Role == "leader":
				if applied {
					leader = c
				}
			case applied:
				sb = c
				return nil
			default:
				standbys++
				last = fmt.Errorf("%s has not applied the settlement yet", c.Base)
			}
		}
		if standbys == 0 && leader != nil {
			sb = leader
			return nil
		}
		if last == nil {
			last = errors.New("no node answered")
		}
		return last
	})
	return sb, err
}

// onLeader runs a write on each node in turn until one is the leader:
// another refuses it (NotLeader) or does not answer. It retries the round
// until ctx ends, as an election takes a moment. fn must be safe to repeat
// on another node after no answer.
func (dc *dayCloser) onLeader(ctx context.Context, fn func(*Client) error) error {
	return dc.until(ctx, func() error {
		var last error
		for _, c := range dc.nodes {
			err := fn(c)
			var ae *APIError
			var ue *UnreachableError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &ae) && ae.NotLeader(), errors.As(err, &ue):
				last = err
			default:
				return permanent{err}
			}
		}
		return fmt.Errorf("no node took it as the leader: %w", last)
	})
}

// read runs fn on the first node that answers.
func (dc *dayCloser) read(ctx context.Context, fn func(*Client) error) error {
	var last error
	for _, c := range dc.nodes {
		last = fn(c)
		var ue *UnreachableError
		if !errors.As(last, &ue) {
			return last
		}
	}
	return last
}

// until calls fn every Poll until it returns nil, a permanent error, or
// ctx ends; the error then is fn's last. A refused request (400, 401,
// 403) is permanent too: waiting does not fix a token or a parameter.
func (dc *dayCloser) until(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
		var ae *APIError
		if errors.As(err, &ae) && (ae.StatusCode == http.StatusBadRequest || ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", err, ctx.Err())
		case <-time.After(dc.o.Poll):
		}
	}
}

// permanent is an error that waiting does not fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
