package store

import "encoding/binary"

// The bbolt schema, declared once. Every bucket exists from Open on.
//
// A transaction's record is keyed by its sequence number: the Raft index of
// the INTENT that created it, 8 bytes big-endian. Every replica gives it the
// same number, and new records always go to the end of the bucket, so a
// batch of Raft entries dirties a few pages at the tail instead of one page
// per record (with the identity as key, records land at random). The one
// index with random keys is the identity's own, TerminalID(8) + STAN(6) +
// DE7(10) -> seq: what the register, every node and the duplicate check use.
// Because it starts with the terminal, a prefix scan of bucketIDs lists one
// terminal's transactions, so terminals need no index of their own.
//
// Index keys end in the seq, so they too grow at the tail of their prefix,
// and one prefix scan lists a merchant's, a day's or a status's
// transactions in arrival order; their values hold the seq, so a scan never
// has to parse a key. Indexes are written only by Apply, in the same bbolt
// transaction as the record they point at.
var (
	bucketTxns     = []byte("txns")         // seq -> encoded Txn
	bucketIDs      = []byte("idx_id")       // id -> seq
	bucketRRN      = []byte("idx_rrn")      // rrn -> seq (the first transaction with that RRN)
	bucketMerchant = []byte("idx_merchant") // merchant|day|seq -> seq
	bucketDay      = []byte("idx_day")      // day|seq -> seq
	bucketStatus   = []byte("idx_status")   // status byte + seq -> seq; pending: the INTENTs without OUTCOME
	// original id -> reversal id: a reversal recorded before its original
	bucketReversedFirst = []byte("idx_reversed_first")
	bucketMeta          = []byte("meta") // the keys below

	// Store-and-forward (saf.go).
	bucketSAF    = []byte("saf")     // acquirer|seq(16 hex) -> encoded SAFEntry: what is owed, in send order
	bucketSAFSeq = []byte("saf_seq") // acquirer -> uint64 big-endian: the last seq handed out
	// day|keyed PAN hash -> count, amount of stand-in approvals (velocity)
	bucketStandInCard = []byte("standin_card")
	// acquirer -> count, amount of stand-in approvals not yet acknowledged
	bucketStandInOpen = []byte("standin_open")

	// Business days (day.go).
	bucketDays = []byte("days") // day YYYYMMDD -> encoded Day
	// original id -> the id of the first approved reversal of it that came
	// after its day was settled (the original stays approved there)
	bucketReversedLate = []byte("idx_reversed_late")

	// Register batches (batch.go).
	bucketBatchOpen   = []byte("batch_open")   // terminal -> uint64 big-endian: its open batch (absent: 1)
	bucketBatchTotals = []byte("batch_totals") // terminal|batch(8) -> the cluster's running BatchTotals
	bucketBatches     = []byte("batches")      // terminal|batch(8) -> encoded Batch, from its first 0500 on
	// identity of a 0500 or 0320 -> encoded BatchAnswer, so a repeat gets the first answer
	bucketBatchReqs   = []byte("batch_reqs")
	bucketBatchUpload = []byte("batch_upload") // terminal|batch(8)|original id -> encoded Upload

	// terminal -> uint32 big-endian: the last STAN the acquirers were sent
	// for it (identify, enqueue): unique per terminal whoever leads
	bucketAcqSTAN = []byte("acq_stan")

	// The terminal registry (terminal.go): terminal id -> encoded Terminal.
	bucketTerminals = []byte("terminals")
	// The audit log (audit.go); a file of schema 4 without them gains them
	// empty at Open.
	bucketAudit    = []byte("audit")     // seq(8) -> encoded AuditRecord
	bucketAuditIDs = []byte("audit_ids") // action id -> seq
	// Card-not-present (merchant.go, payment.go).
	bucketMerchants    = []byte("merchants")     // merchant id -> encoded Merchant
	bucketMerchantKeys = []byte("merchant_keys") // SHA-256 of an API key -> merchant id
	bucketPayments     = []byte("payments")      // payment id -> encoded Payment
	bucketPaymentIdx   = []byte("idx_payment")   // merchant|created(8)|payment id -> payment id
	// "merchant" -> the last merchant number; "stan|"+terminal -> the last
	// STAN of a virtual terminal (uint64 big-endian)
	bucketCNPSeq = []byte("cnp_seq")
	// Pay-by-link and the outbox (link.go, outbox.go).
	bucketLinks      = []byte("links")       // link id -> encoded Link
	bucketLinkTokens = []byte("link_tokens") // a link's URL token -> link id
	bucketLinkIdx    = []byte("idx_link")    // merchant|created(8)|link id -> link id
	bucketOutbox     = []byte("outbox")      // merchant|seq(8) -> encoded Message
	bucketOutboxIDs  = []byte("outbox_ids")  // message id -> its outbox key
	// Card keys (cardkeys.go): "state" -> encoded KeyState; and key id (0:
	// the legacy format) -> Sum of the records sealed under it. Created at
	// Open in an older file, the counts from its records.
	bucketCardKeys       = []byte("card_keys")
	bucketCardKeyRecords = []byte("card_key_records")
	// transaction id of a payment's step -> payment id
	bucketPaymentTxn = []byte("idx_payment_txn")
	// Merchant notification (webhook.go).
	bucketWebhooks = []byte("webhooks")  // merchant id -> encoded Webhook
	bucketWebhookQ = []byte("webhook_q") // merchant|seq(8) -> encoded WebhookEvent
)

// tailFill is the fill percent of the buckets whose keys grow at the tail:
// bbolt splits a page when it is this full, so pages that only ever receive
// keys after their last one are kept nearly full instead of half empty.
// Buckets whose entries are also rewritten or deleted (a record growing by
// its OUTCOME, a status moving) keep some room, so that a rewrite does not
// split a full page; the ones that are only ever appended to (idx_day, and
// idx_rrn, whose keys are the Raft index as Apply assigns them) are packed
// full: at 1,000,000 transactions idx_rrn took 17,860 leaf pages half
// empty (default fill) and its depth was 4.
const (
	tailFill   = 0.9
	appendFill = 1.0
)

// bucketFill is the fill percent a bucket gets in every write transaction.
type bucketFill struct {
	name    []byte
	percent float64
}

// tailBuckets are the buckets that get tailFill or appendFill.
func tailBuckets() []bucketFill {
	return []bucketFill{{bucketTxns, tailFill}, {bucketMerchant, tailFill}, {bucketStatus, tailFill}, {bucketDay, appendFill}, {bucketRRN, appendFill}}
}

// allBuckets lists every bucket, created on Open.
func allBuckets() [][]byte {
	return [][]byte{bucketTxns, bucketIDs, bucketRRN, bucketMerchant, bucketDay, bucketStatus, bucketReversedFirst, bucketMeta,
		bucketSAF, bucketSAFSeq, bucketStandInCard, bucketStandInOpen,
		bucketDays, bucketReversedLate, bucketBatchOpen, bucketBatchTotals, bucketBatches, bucketBatchReqs, bucketBatchUpload,
		bucketAcqSTAN, bucketTerminals, bucketAudit, bucketAuditIDs,
		bucketMerchants, bucketMerchantKeys, bucketPayments, bucketPaymentIdx, bucketCNPSeq,
		bucketLinks, bucketLinkTokens, bucketLinkIdx, bucketOutbox, bucketOutboxIDs,
		bucketCardKeys, bucketCardKeyRecords,
		bucketPaymentTxn, bucketWebhooks, bucketWebhookQ}
}

// Keys of bucketMeta.
var (
	metaApplied = []byte("applied_index")  // uint64 big-endian: last Raft index applied
	metaDay     = []byte("business_day")   // YYYYMMDD: the open business day
	metaSchema  = []byte("schema_version") // schemaVersion
	// uint64 big-endian: the records in bucketAudit
	metaAuditCount = []byte("audit_count")
	// in bucketCardKeys: the encoded KeyState
	metaKeyState = []byte("state")
)

// schemaVersion changes whenever the layout above or the record encoding
// changes incompatibly; Open refuses a file of a version it does not know.
// It is the version a new file starts at; schemaLean (layout.go) is
// reached from it only through the log (OpSchema).
//
//	2: records keyed by seq; SAF queue and stand-in buckets
//	3: business days and register batches (Txn.Batch)
//	4: acquirer STANs per terminal (acq_stan), Txn.Repeat, SAF cancel and
//	   forward entries
//	5: the lean layout: no idx_day, no idx_merchant, open statuses only in
//	   idx_status, no own RRNs in idx_rrn
const schemaVersion = "4"

// indexSep separates the parts of composite index keys.
const indexSep = '|'

// seqKey is the record key of the transaction whose INTENT has Raft index seq.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

func merchantKey(merchant, day string, seq []byte) []byte {
	return append(joinKey(merchant, day, ""), seq...)
}
func dayKey(day string, seq []byte) []byte { return append(joinKey(day, ""), seq...) }
func statusKey(st Status, seq []byte) []byte {
	return append([]byte{byte(st)}, seq...)
}

func joinKey(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, indexSep)
		}
		b = append(b, p...)
	}
	return b
}
