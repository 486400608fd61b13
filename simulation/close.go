package simulation

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tillgate/tillgate/history"
	"github.com/tillgate/tillgate/wire"
)

// batchResult is how one register's batch closed.
type batchResult struct {
	balanced    bool   // 0510 00 to the first 0500
	afterUpload bool   // 95, the upload, then 0510 00 to the 960000
	failed      string // otherwise: what went wrong
}

// batchSummary counts how the registers' batches closed.
type batchSummary struct {
	Balanced, AfterUpload int
	Failed                []string
}

func (s batchSummary) String() string {
	return fmt.Sprintf("batches %d balanced, %d after upload, %d failed", s.Balanced, s.AfterUpload, len(s.Failed))
}

// closeBatches closes every register's batch at once, as registers do at
// the end of their day.
func closeBatches(ctx context.Context, regs []*register) batchSummary {
	res := make([]batchResult, len(regs))
	var wg sync.WaitGroup
	for i, r := range regs {
		wg.Go(func() { res[i] = r.closeBatch(ctx) })
	}
	wg.Wait()
	var s batchSummary
	for i, b := range res {
		switch {
		case b.balanced:
			s.Balanced++
		case b.afterUpload:
			s.AfterUpload++
		default:
			s.Failed = append(s.Failed, regs[i].tid+": "+b.failed)
		}
	}
	return s
}

// closeBatch waits until the register's queue is drained and counted,
// sends its 0500 (DE3 920000) with its own totals and, on a 95, uploads
// each transaction (0320) and closes with a 0500 960000.
func (r *register) closeBatch(ctx context.Context) batchResult {
	if err := r.drain(ctx); err != nil {
		return batchResult{failed: err.Error()}
	}
	c := r.client()
	tot := r.batch.totals()
	resp, out := r.do(c, r.settleMsg(wire.ProcSettle, tot), 0)
	switch {
	case out != history.Answered:
		return batchResult{failed: "0500: " + out}
	case resp.ResponseCode == wire.RCApproved:
		return batchResult{balanced: true}
	case resp.ResponseCode != wire.RCReconcileError:
		return batchResult{failed: "0510 rc " + resp.ResponseCode}
	}
	for _, m := range r.batch.uploads(r.tid, r.nextSTAN, de7(time.Now())) {
		if resp, out := r.do(c, m, 0); out != history.Answered || resp.ResponseCode != wire.RCApproved {
			return batchResult{failed: fmt.Sprintf("0320 of %s: %s %s", m.OriginalData[:20], out, rcOf(resp))}
		}
	}
	resp, out = r.do(c, r.settleMsg(wire.ProcSettleAfterUpload, tot), 0)
	if out != history.Answered || resp.ResponseCode != wire.RCApproved {
		return batchResult{failed: fmt.Sprintf("0500 after upload: %s %s", out, rcOf(resp))}
	}
	return batchResult{afterUpload: true}
}

// drain waits until the client holds nothing and every entry it queued has
// been reported acknowledged (so the batch counts it).
func (r *register) drain(ctx context.Context) error {
	for {
		c := r.client()
		if c == nil {
			return fmt.Errorf("drain: register %s is closed", r.tid)
		}
		q, err := c.Queued()
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		if len(q) == 0 && r.batch.settled() {
			return nil
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return fmt.Errorf("drain: %d entries still queued: %w", len(q), ctx.Err())
		}
	}
}

func (r *register) settleMsg(proc string, tot wire.Totals) *wire.Message {
	return &wire.Message{
		MTI: wire.MTIReconcile, ProcCode: proc, TransmissionTime: de7(time.Now()), STAN: r.nextSTAN(),
		TerminalID: r.tid, MerchantID: merchantID, Currency: currency, Totals: &tot,
	}
}

func rcOf(m *wire.Message) string {
	if m == nil {
		return ""
	}
	return "rc " + m.ResponseCode
}

// de7 is a transmission date and time, MMDDhhmmss UTC.
func de7(t time.Time) string { return wire.TransmissionTime(t) }
