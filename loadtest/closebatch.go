package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/tillgate/tillgate/wire"
)

// closeParallel bounds the registers closing their batches at once: each
// is a few round trips, and 2,000 at once would only queue on the node.
const closeParallel = 64

// maxBatchErrors bounds the failure details a BatchSummary keeps.
const maxBatchErrors = 10

// BatchTotals are wire.Totals as BatchSummary reports them to bench: the
// same nine totals, with the net amount named Net ("net" in JSON). Only a
// report shape: loadtest counts and sums in wire.Totals. It goes once bench
// reads wire.Totals.
type BatchTotals struct {
	DebitsCount           int64 `json:"debits_count"`
	DebitsAmount          int64 `json:"debits_amount"`
	CreditsCount          int64 `json:"credits_count"`
	CreditsAmount         int64 `json:"credits_amount"`
	DebitsReversalCount   int64 `json:"debits_reversal_count"`
	DebitsReversalAmount  int64 `json:"debits_reversal_amount"`
	CreditsReversalCount  int64 `json:"credits_reversal_count"`
	CreditsReversalAmount int64 `json:"credits_reversal_amount"`
	Net                   int64 `json:"net"` // DebitsAmount - CreditsAmount
}

func reportTotals(t wire.Totals) BatchTotals {
	return BatchTotals{
		DebitsCount: t.DebitsCount, DebitsAmount: t.DebitsAmount,
		CreditsCount: t.CreditsCount, CreditsAmount: t.CreditsAmount,
		DebitsReversalCount: t.DebitsReversalCount, DebitsReversalAmount: t.DebitsReversalAmount,
		CreditsReversalCount: t.CreditsReversalCount, CreditsReversalAmount: t.CreditsReversalAmount,
		Net: t.NetAmount,
	}
}

// BatchSummary is how the fleet's batches closed (CloseBatches).
type BatchSummary struct {
	Registers int `json:"registers"`
	// Balanced registers got 0510 00 to their first 0500: the cluster's
	// totals were theirs (I4).
	Balanced int `json:"balanced"`
	// AfterUpload registers got 95, uploaded their transactions (0320)
	// and closed with a 0500 960000, and the difference of the first 0510
	// is explained exactly by requests whose outcome the register never
	// learnt (a 95 that is not explained is a failure: "95 unexplained").
	AfterUpload int `json:"after_upload"`
	// Explained lists, per register closed after an upload, the
	// identities that explain its difference (the first few).
	Explained []string `json:"explained,omitempty"`
	// Uploaded counts the 0320s answered 00.
	Uploaded int `json:"uploaded"`
	// Failed registers got another answer, or none, at some step.
	Failed int `json:"failed"`
	// Failures counts the failed registers by reason ("0510 rc 96",
	// "0330 not 00", "0500: unknown", "drain", "95 unexplained").
	Failures map[string]int64 `json:"failures,omitempty"`
	// Errors are the first few failures in full.
	Errors []string `json:"errors,omitempty"`
	// Register sums every register's own totals as sent in its first 0500.
	Register BatchTotals `json:"register"`
	// Cluster sums the totals of the last 0510 each register got (00 or
	// 95); a register that got none adds nothing.
	Cluster BatchTotals `json:"cluster"`
	// Elapsed is how long closing took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Equal reports that the cluster's totals are the registers'.
func (s BatchSummary) Equal() bool { return s.Register == s.Cluster }

// batchOutcome is how one register's batch closed.
type batchOutcome struct {
	balanced, afterUpload bool
	uploaded              int
	register              wire.Totals
	cluster               *wire.Totals // the last 0510's totals, if any
	explained             string       // after an upload: what explains the difference
	reason                string       // failed: a short class
	err                   error        // failed: the detail
}

// CloseBatches closes every register's open batch as a register does at
// the end of its day: wait until its failover client has no reversal
// queued, send 0500 DE3 920000 with its totals; on 95 upload each
// transaction (0320) and send 0500 DE3 960000. Call it after Run, when no
// transaction is in flight. A register whose batch closed starts a new one.
func (f *Fleet) CloseBatches(ctx context.Context) BatchSummary {
	start := time.Now()
	outs := make([]batchOutcome, len(f.regs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, closeParallel)
	for i, r := range f.regs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i] = r.closeBatch(ctx)
		}()
	}
	wg.Wait()
	s := summarizeBatches(outs)
	s.Elapsed = time.Since(start)
	return s
}

func summarizeBatches(outs []batchOutcome) BatchSummary {
	s := BatchSummary{Registers: len(outs), Failures: map[string]int64{}}
	var register, cluster wire.Totals
	for _, o := range outs {
		register.Add(o.register)
		if o.cluster != nil {
			cluster.Add(*o.cluster)
		}
		s.Uploaded += o.uploaded
		switch {
		case o.balanced:
			s.Balanced++
		case o.afterUpload:
			s.AfterUpload++
			if len(s.Explained) < maxBatchErrors {
				s.Explained = append(s.Explained, o.explained)
			}
		default:
			s.Failed++
			s.Failures[o.reason]++
			if len(s.Errors) < maxBatchErrors {
				s.Errors = append(s.Errors, o.err.Error())
			}
		}
	}
	s.Register, s.Cluster = reportTotals(register), reportTotals(cluster)
	if len(s.Failures) == 0 {
		s.Failures = nil
	}
	sort.Strings(s.Errors)
	sort.Strings(s.Explained)
	return s
}

// closeBatch runs the 0500 exchange of one register.
func (r *register) closeBatch(ctx context.Context) batchOutcome {
	var o batchOutcome
	fail := func(reason string, err error) batchOutcome {
		o.reason, o.err = reason, fmt.Errorf("register %s: %w", r.tid, err)
		return o
	}
	if err := r.drain(ctx); err != nil {
		return fail("drain", err)
	}
	tot := r.batch.totals()
	o.register = tot
	resp, err := r.settle(ctx, wire.ProcSettle, tot)
	if err != nil {
		return fail("0500: "+errClass(err), err)
	}
	o.cluster = clusterTotals(resp)
	switch resp.ResponseCode {
	case wire.RCApproved:
		o.balanced = true
		r.batch.reset()
		return o
	case wire.RCReconcileError:
		return r.closeAfterUpload(ctx, o, resp, tot)
	default:
		return fail("0510 rc "+resp.ResponseCode, fmt.Errorf("0500 answered %s", resp.ResponseCode))
	}
}

// closeAfterUpload handles a 95: upload every transaction (0320), close
// with 0500 960000. The register closes its batch whatever explains the
// difference (an operator reconciles it), but the run fails unless the
// difference is exactly what the register never learnt.
func (r *register) closeAfterUpload(ctx context.Context, o batchOutcome, first *wire.Message, tot wire.Totals) batchOutcome {
	fail := func(reason string, err error) batchOutcome {
		o.reason, o.err = reason, fmt.Errorf("register %s: %w", r.tid, err)
		return o
	}
	why, unexplained := r.batch.explainDiff(first.Totals, tot)
	var err error
	if o.uploaded, err = r.upload(ctx); err != nil {
		return fail(uploadReason(err), err)
	}
	resp, err := r.settle(ctx, wire.ProcSettleAfterUpload, tot)
	if err != nil {
		return fail("0500 after upload: "+errClass(err), err)
	}
	if c := clusterTotals(resp); c != nil {
		o.cluster = c
	}
	if resp.ResponseCode != wire.RCApproved {
		return fail("0510 after upload rc "+resp.ResponseCode, fmt.Errorf("0500 %s answered %s", wire.ProcSettleAfterUpload, resp.ResponseCode))
	}
	r.batch.reset()
	if unexplained != nil {
		return fail("95 unexplained", unexplained)
	}
	o.afterUpload, o.explained = true, fmt.Sprintf("register %s: %s", r.tid, why)
	return o
}

// drain waits until the failover client holds no reversal and every one it
// queued has been reported acknowledged (so it is counted): a 0500 sent
// before would compare totals the cluster has not seen yet.
func (r *register) drain(ctx context.Context) error {
	for {
		q, err := r.c.Queued()
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		if len(q) == 0 && r.batch.settled() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d entries still queued: %w", len(q), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// settle sends one 0500 with the register's totals.
func (r *register) settle(ctx context.Context, proc string, tot wire.Totals) (*wire.Message, error) {
	m := &wire.Message{
		MTI: wire.MTIReconcile, ProcCode: proc, TransmissionTime: de7Now(), STAN: r.nextSTAN(),
		TerminalID: r.tid, MerchantID: merchantID, Currency: currency, Totals: &tot,
	}
	resp, err := r.do(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("0500 %s: %w", proc, err)
	}
	return resp, nil
}

// errUpload is an upload that was not answered 00.
var errUpload = errors.New("upload refused")

// upload sends one 0320 per transaction of the batch and returns how many
// were answered 00; it stops at the first that was not.
func (r *register) upload(ctx context.Context) (int, error) {
	n := 0
	for _, t := range r.batch.transactions() {
		m := t.upload(r.tid, r.nextSTAN(), de7Now())
		resp, err := r.do(ctx, m)
		if err != nil {
			return n, fmt.Errorf("0320 of %s: %w", t.origKey(), err)
		}
		if resp.ResponseCode != wire.RCApproved {
			return n, fmt.Errorf("%w: 0320 of %s answered %s", errUpload, t.origKey(), resp.ResponseCode)
		}
		n++
	}
	return n, nil
}

func uploadReason(err error) string {
	if errors.Is(err, errUpload) {
		return "0330 not 00"
	}
	return "0320: " + errClass(err)
}

// clusterTotals reads a 0510's totals; nil when it carries none.
func clusterTotals(resp *wire.Message) *wire.Totals {
	if resp.Totals == nil {
		return nil
	}
	t := *resp.Totals
	return &t
}

func de7Now() string { return wire.TransmissionTime(time.Now()) }
