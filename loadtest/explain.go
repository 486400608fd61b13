package loadtest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tillgate/tillgate/wire"
)

// explainBudget bounds the search for an explanation: a register with so
// many unknown outcomes that it runs out is not explained (a failure,
// never a pass).
const explainBudget = 1 << 20

// errUnexplained: the cluster's totals differ from the register's by more
// than, or otherwise than, what the register never learnt.
var errUnexplained = errors.New("95 not explained by the requests whose outcome the register never learnt")

// unknownTx is a debit or credit whose outcome the register never learnt.
type unknownTx struct {
	key    string      // DE41 + DE11 + DE7
	bucket wire.Bucket // debit or credit
	amount int64
}

// explain finds the identities among unknowns that account exactly for
// diff, the cluster's totals minus the register's: each one the cluster
// approved (and did not take back) counts there and not here. Anything
// else (a reversal counted on one side only, a known approval missing, an
// amount no subset adds up to) is not explained.
func explain(diff wire.Totals, unknowns []unknownTx) ([]unknownTx, error) {
	if diff.DebitsReversalCount != 0 || diff.DebitsReversalAmount != 0 ||
		diff.CreditsReversalCount != 0 || diff.CreditsReversalAmount != 0 {
		return nil, fmt.Errorf("%w: the reversals differ (%s)", errUnexplained, fmtTotals(diff))
	}
	var out []unknownTx
	for _, side := range []struct {
		bucket wire.Bucket
		count  int64
		amount int64
	}{{wire.BucketDebit, diff.DebitsCount, diff.DebitsAmount}, {wire.BucketCredit, diff.CreditsCount, diff.CreditsAmount}} {
		got, err := pickExactly(inBucket(unknowns, side.bucket), side.count, side.amount)
		if err != nil {
			return nil, fmt.Errorf("%w: %w (difference %s, unknown outcomes %s)", errUnexplained, err, fmtTotals(diff), fmtUnknowns(unknowns))
		}
		out = append(out, got...)
	}
	return out, nil
}

func inBucket(us []unknownTx, b wire.Bucket) []unknownTx {
	var out []unknownTx
	for _, u := range us {
		if u.bucket == b {
			out = append(out, u)
		}
	}
	return out
}

// pickExactly finds count of cands whose amounts add up to amount.
func pickExactly(cands []unknownTx, count, amount int64) ([]unknownTx, error) {
	if count < 0 || amount < 0 {
		return nil, errors.New("the register counts more than the cluster")
	}
	budget := explainBudget
	got, ok := pick(cands, int(count), amount, &budget)
	switch {
	case ok:
		return got, nil
	case budget <= 0:
		return nil, fmt.Errorf("too many unknown outcomes (%d) to decide", len(cands))
	}
	return nil, fmt.Errorf("no %d of the %d unknown outcomes add up to %d", count, len(cands), amount)
}

// pick is a depth-first search for k of c adding up to amount; amounts are
// positive, so a negative rest prunes.
func pick(c []unknownTx, k int, amount int64, budget *int) ([]unknownTx, bool) {
	if k == 0 {
		return nil, amount == 0
	}
	if len(c) < k || amount <= 0 || *budget <= 0 {
		return nil, false
	}
	*budget--
	if got, ok := pick(c[1:], k-1, amount-c[0].amount, budget); ok {
		return append(got, c[0]), true
	}
	return pick(c[1:], k, amount, budget)
}

// fmtTotals names the non-zero fields of t.
func fmtTotals(t wire.Totals) string {
	var parts []string
	for _, f := range []struct {
		name          string
		count, amount int64
	}{{"debits", t.DebitsCount, t.DebitsAmount}, {"credits", t.CreditsCount, t.CreditsAmount},
		{"debit reversals", t.DebitsReversalCount, t.DebitsReversalAmount}, {"credit reversals", t.CreditsReversalCount, t.CreditsReversalAmount}} {
		if f.count != 0 || f.amount != 0 {
			parts = append(parts, fmt.Sprintf("%s %+d/%+d", f.name, f.count, f.amount))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func fmtUnknowns(us []unknownTx) string {
	if len(us) == 0 {
		return "none"
	}
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = fmt.Sprintf("%s %d", u.key, u.amount)
	}
	return strings.Join(parts, ", ")
}

// explainDiff explains the difference between the cluster's totals (a 95's
// 0510; nil when it carried none) and the register's: what explains it, or
// why nothing does.
func (b *batch) explainDiff(cluster *wire.Totals, register wire.Totals) (string, error) {
	if cluster == nil {
		return "", fmt.Errorf("%w: the 95 carried no totals", errUnexplained)
	}
	b.mu.Lock()
	unknowns := append([]unknownTx(nil), b.unknowns...)
	b.mu.Unlock()
	diff := *cluster
	diff.Sub(register)
	got, err := explain(diff, unknowns)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("cluster minus register %s = approvals it never learnt: %s", fmtTotals(diff), fmtUnknowns(got)), nil
}
