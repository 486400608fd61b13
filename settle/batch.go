package settle

import (
	"fmt"
	"strings"

	"github.com/tillgate/tillgate/wire"
)

// fields are the nine totals, named as in the JSON, in DE order.
func totalsFields(t *wire.Totals) []trailerField {
	return []trailerField{
		{"credits_count", &t.CreditsCount}, {"credits_reversal_count", &t.CreditsReversalCount},
		{"debits_count", &t.DebitsCount}, {"debits_reversal_count", &t.DebitsReversalCount},
		{"credits_amount", &t.CreditsAmount}, {"credits_reversal_amount", &t.CreditsReversalAmount},
		{"debits_amount", &t.DebitsAmount}, {"debits_reversal_amount", &t.DebitsReversalAmount},
		{"net_amount", &t.NetAmount},
	}
}

// differences names each total where the register's differs from ours.
func differences(register, ours wire.Totals) []string {
	var out []string
	rf, of := totalsFields(&register), totalsFields(&ours)
	for i := range rf {
		if *rf[i].v != *of[i].v {
			out = append(out, fmt.Sprintf("%s register %d ours %d", rf[i].name, *rf[i].v, *of[i].v))
		}
	}
	return out
}

// batch compares one batch. An open batch is listed (batch_open, not
// blocking). A batch with a 0500 whose totals differ from ours is out of
// balance whatever its status (closed after upload or by an operator
// included), and so is one the node marked out_of_balance. A batch closed
// without a 0500 (by an operator) has nothing to compare.
func (r *Report) batch(b Batch) {
	res := BatchResult{Terminal: b.Terminal, Number: b.Number, Status: b.Status, HasRegister: b.HasRegister,
		Register: b.Register, Ours: b.Ours}
	if b.HasRegister {
		res.Differences = differences(b.Register, b.Ours)
		res.Balanced = len(res.Differences) == 0
	}
	r.Batches = append(r.Batches, res)
	detail := fmt.Sprintf("batch %d of terminal %s (%s)", b.Number, b.Terminal, b.Status)
	if len(res.Differences) > 0 {
		detail += ": " + strings.Join(res.Differences, ", ")
	}
	switch {
	case b.Status == BatchOpen:
		r.addBatch(KindBatchOpen, b, detail+": never closed, its 0500 not received")
	case b.Status == BatchOutOfBalance || len(res.Differences) > 0:
		r.addBatch(KindBatchOutOfBalance, b, detail)
	case !knownBatchStatus(b.Status):
		r.addBatch(KindBatchOutOfBalance, b, detail+": unknown status")
	}
}

func knownBatchStatus(s string) bool {
	switch s {
	case BatchOpen, BatchClosed, BatchOutOfBalance, BatchClosedAfterUpload, BatchClosedByOperator:
		return true
	}
	return false
}

func (r *Report) addBatch(kind string, b Batch, detail string) {
	r.Discrepancies = append(r.Discrepancies, Discrepancy{Kind: kind, Blocking: Blocks(kind), TerminalID: b.Terminal, Batch: b.Number, Detail: detail})
}
