package store

// Buckets, declared once. Index keys end in the transaction id so that one
// prefix scan lists a merchant's, day's or status's transactions in id order.
var (
	bucketTxns     = []byte("txns")         // id -> Txn
	bucketRRN      = []byte("idx_rrn")      // rrn -> id
	bucketMerchant = []byte("idx_merchant") // merchant|day|id -> nil
	bucketDay      = []byte("idx_day")      // day|id -> nil
	bucketStatus   = []byte("idx_status")   // status byte|id -> nil
	bucketPending  = []byte("idx_pending")  // id -> nil: INTENT without OUTCOME
	bucketMeta     = []byte("meta")

	allBuckets = [][]byte{bucketTxns, bucketRRN, bucketMerchant, bucketDay, bucketStatus, bucketPending, bucketMeta}
)

// Keys of the meta bucket.
var (
	metaApplied = []byte("applied_index")
	metaDay     = []byte("business_day")
	metaSchema  = []byte("schema_version")
)

const schemaVersion = "1"
