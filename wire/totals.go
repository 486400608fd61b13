package wire

// Totals are the nine totals of a register batch, as a 0500 and its 0510
// carry them (DE74-77, DE86-89, DE97). It is the one totals type of
// tillgate: the cluster's running totals of a batch (store), a register's
// own count (loadtest, the simulation), the settlement report (settle) all
// use it. What counts where, once approved (Count, BucketOf):
//
//   - Debits: purchases, purchases with cashback and completions not
//     reversed (and a stand-in advice of either).
//   - Credits: refunds not reversed.
//   - Debits/credits reversal: reversals, classed by their own processing
//     code (20xxxx: a credit's), with their own amount.
//   - NetAmount = DebitsAmount - CreditsAmount.
//
// Pre-auths, balance inquiries and declines count nowhere.
//
// A message unpacked with only some of the nine remembers which were
// absent (Message.MissingTotal), so that ValidateRequest can name the first
// missing one instead of reading zero; Totals itself is the nine values,
// comparable with ==. The JSON names are those of the admin API and the
// settlement report.
type Totals struct {
	CreditsCount          int64 `json:"credits_count"`           // DE74 n10
	CreditsReversalCount  int64 `json:"credits_reversal_count"`  // DE75 n10
	DebitsCount           int64 `json:"debits_count"`            // DE76 n10
	DebitsReversalCount   int64 `json:"debits_reversal_count"`   // DE77 n10
	CreditsAmount         int64 `json:"credits_amount"`          // DE86 n16
	CreditsReversalAmount int64 `json:"credits_reversal_amount"` // DE87 n16
	DebitsAmount          int64 `json:"debits_amount"`           // DE88 n16
	DebitsReversalAmount  int64 `json:"debits_reversal_amount"`  // DE89 n16
	NetAmount             int64 `json:"net_amount"`              // DE97 x+n16: sign C/D + 16 digits
}

// totalsFields are the data elements of Totals, in field order.
var totalsFields = [...]int{74, 75, 76, 77, 86, 87, 88, 89, 97}

// MissingTotal returns the first of DE74-77, DE86-89, DE97 that the
// unpacked message carried no value for while it carried others, or 0
// (all nine there, or no totals at all).
func (m *Message) MissingTotal() int {
	for i, id := range totalsFields {
		if m.totalsAbsent&(1<<i) != 0 {
			return id
		}
	}
	return 0
}

// hasTotal reports whether m has a value for field id (one of
// totalsFields): every field of Totals built in code does.
func (m *Message) hasTotal(id int) bool {
	for i, f := range totalsFields {
		if f == id {
			return m.totalsAbsent&(1<<i) == 0
		}
	}
	return false
}

// Add adds o's nine totals to t, field by field.
func (t *Totals) Add(o Totals) {
	t.CreditsCount += o.CreditsCount
	t.CreditsReversalCount += o.CreditsReversalCount
	t.DebitsCount += o.DebitsCount
	t.DebitsReversalCount += o.DebitsReversalCount
	t.CreditsAmount += o.CreditsAmount
	t.CreditsReversalAmount += o.CreditsReversalAmount
	t.DebitsAmount += o.DebitsAmount
	t.DebitsReversalAmount += o.DebitsReversalAmount
	t.NetAmount += o.NetAmount
}

// Sub subtracts o's nine totals from t, field by field, as Add adds them.
func (t *Totals) Sub(o Totals) {
	t.Add(Totals{
		CreditsCount: -o.CreditsCount, CreditsReversalCount: -o.CreditsReversalCount,
		DebitsCount: -o.DebitsCount, DebitsReversalCount: -o.DebitsReversalCount,
		CreditsAmount: -o.CreditsAmount, CreditsReversalAmount: -o.CreditsReversalAmount,
		DebitsAmount: -o.DebitsAmount, DebitsReversalAmount: -o.DebitsReversalAmount,
		NetAmount: -o.NetAmount,
	})
}

// Bucket is where an approved transaction counts in a batch's Totals.
type Bucket uint8

// Buckets.
const (
	BucketNone           Bucket = iota // pre-auths, balance inquiries, uploads, network: nowhere
	BucketDebit                        // purchases, purchases with cashback, completions
	BucketCredit                       // refunds
	BucketDebitReversal                // reversals of anything but a refund
	BucketCreditReversal               // reversals with DE3 20xxxx
)

// BucketOf says where an approved transaction of kind k with processing
// code proc counts: a reversal by its own DE3, a stand-in advice as what
// it books (Kind.Booked).
func BucketOf(k Kind, proc string) Bucket {
	switch k.Booked(proc) {
	case KindPurchase, KindCashback, KindCompletion:
		return BucketDebit
	case KindRefund:
		return BucketCredit
	case KindReversal:
		if ProcKind(proc) == KindRefund {
			return BucketCreditReversal
		}
		return BucketDebitReversal
	}
	return BucketNone
}

// Count adds n transactions of amount each to bucket b (n negative takes
// them out again), and keeps NetAmount = DebitsAmount - CreditsAmount.
func (t *Totals) Count(b Bucket, n, amount int64) {
	amount *= n
	switch b {
	case BucketDebit:
		t.DebitsCount += n
		t.DebitsAmount += amount
		t.NetAmount += amount
	case BucketCredit:
		t.CreditsCount += n
		t.CreditsAmount += amount
		t.NetAmount -= amount
	case BucketDebitReversal:
		t.DebitsReversalCount += n
		t.DebitsReversalAmount += amount
	case BucketCreditReversal:
		t.CreditsReversalCount += n
		t.CreditsReversalAmount += amount
	}
}
