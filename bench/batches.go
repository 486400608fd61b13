package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tillgate/tillgate/loadtest"
)

// batchCheckName prefixes the check line of the registers' batches.
const batchCheckName = "register batches"

// closeBatches ends every register's day once the load has stopped and the
// reversal queues drained: 0500, upload on 95, 0500 960000 (see
// loadtest.Fleet.CloseBatches). It is bounded by SettleTimeout.
func closeBatches(ctx context.Context, f *loadtest.Fleet, timeout time.Duration) loadtest.BatchSummary {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f.CloseBatches(ctx)
}

// batchCheck is I4 seen from the registers: every batch closes, and in a
// run without faults (faults: any actually injected) on the first 0500
// (the cluster's 0510 totals are the registers'). With faults a register
// may close after an upload when a request whose outcome it never learnt
// counts at the cluster only: loadtest fails a register whose difference
// such requests do not explain exactly.
func batchCheck(s *loadtest.BatchSummary, faults bool) Check {
	if s == nil {
		return Check{Name: batchCheckName, Skip: true, Detail: "--no-batch-close"}
	}
	c := Check{
		Name: fmt.Sprintf("%s: %d balanced, %d after upload, %d failed", batchCheckName, s.Balanced, s.AfterUpload, s.Failed),
		Pass: s.Failed == 0 && (faults || s.AfterUpload == 0 && s.Equal()),
	}
	var detail []string
	for _, reason := range loadtest.SortedKeys(s.Failures) {
		detail = append(detail, fmt.Sprintf("%s: %d", reason, s.Failures[reason]))
	}
	if !s.Equal() {
		detail = append(detail, fmt.Sprintf("cluster net %d (%d debits), registers' net %d (%d debits)",
			s.Cluster.Net, s.Cluster.DebitsCount, s.Register.Net, s.Register.DebitsCount))
	}
	c.Detail = strings.Join(detail, "; ")
	return c
}

// batchRows are the totals lines of the report: the registers' sums beside
// the cluster's.
func batchRows(s *loadtest.BatchSummary) []batchRow {
	r, c := s.Register, s.Cluster
	return []batchRow{
		{"debits (DE76, DE88)", r.DebitsCount, r.DebitsAmount, c.DebitsCount, c.DebitsAmount},
		{"credits (DE74, DE86)", r.CreditsCount, r.CreditsAmount, c.CreditsCount, c.CreditsAmount},
		{"debits reversal (DE77, DE89)", r.DebitsReversalCount, r.DebitsReversalAmount, c.DebitsReversalCount, c.DebitsReversalAmount},
		{"credits reversal (DE75, DE87)", r.CreditsReversalCount, r.CreditsReversalAmount, c.CreditsReversalCount, c.CreditsReversalAmount},
		{"net (DE97)", 0, r.Net, 0, c.Net},
	}
}

type batchRow struct {
	Name                        string
	RegCount, RegAmount         int64
	ClusterCount, ClusterAmount int64
}

// writeBatches prints the batch close of the registers.
func writeBatches(w io.Writer, s *loadtest.BatchSummary) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "\nRegister batches (0500): %d registers, %d balanced, %d after upload (%d 0320s), %d failed, in %s\n",
		s.Registers, s.Balanced, s.AfterUpload, s.Uploaded, s.Failed, s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  %-30s %10s %16s %10s %16s\n", "totals", "registers", "amount", "cluster", "amount")
	for _, r := range batchRows(s) {
		fmt.Fprintf(w, "  %-30s %10d %16d %10d %16d\n", r.Name, r.RegCount, r.RegAmount, r.ClusterCount, r.ClusterAmount)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(w, "  failed: %s\n", e)
	}
}
