package store

// The bbolt schema, declared once. Every bucket exists from Open on.
//
// The primary key is the transaction's identity, TerminalID(8) + STAN(6) +
// DE7(10): the same key the register, every node and the duplicate check
// use. Because it starts with the terminal, a prefix scan of bucketTxns
// lists one terminal's transactions, so terminals need no index of their own.
//
// Index keys end in the id, so one prefix scan lists a merchant's, a day's or
// a status's transactions in id order; their values hold the id, so a scan
// never has to parse a key. Indexes are written only by Apply, in the same
// bbolt transaction as the record they point at.
var (
	bucketTxns     = []byte("txns")         // id -> encoded Txn
	bucketRRN      = []byte("idx_rrn")      // rrn -> id (the first transaction with that RRN)
	bucketMerchant = []byte("idx_merchant") // merchant|day|id -> id
	bucketDay      = []byte("idx_day")      // day|id -> id
	bucketStatus   = []byte("idx_status")   // status byte + id -> id
	bucketPending  = []byte("idx_pending")  // id -> nil: INTENT without OUTCOME
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
)

// allBuckets lists every bucket, created on Open.
func allBuckets() [][]byte {
	return [][]byte{bucketTxns, bucketRRN, bucketMerchant, bucketDay, bucketStatus, bucketPending, bucketReversedFirst, bucketMeta,
		bucketSAF, bucketSAFSeq, bucketStandInCard, bucketStandInOpen}
}

// Keys of bucketMeta.
var (
	metaApplied = []byte("applied_index")  // uint64 big-endian: last Raft index applied
	metaDay     = []byte("business_day")   // YYYYMMDD: the open business day
	metaSchema  = []byte("schema_version") // schemaVersion
)

// schemaVersion changes whenever the layout above or the record encoding
// changes incompatibly; Open refuses a file of another version.
const schemaVersion = "2" // 2: SAF queue and stand-in buckets

// indexSep separates the parts of composite index keys.
const indexSep = '|'

func merchantKey(merchant, day, id string) []byte { return joinKey(merchant, day, id) }
func dayKey(day, id string) []byte                { return joinKey(day, id) }
func statusKey(st Status, id string) []byte       { return append([]byte{byte(st)}, id...) }

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
