package adminapi

import "time"

// Status is the answer of GET /status: this node's view of the cluster.
//
// Lag: hashicorp/raft v1.7 exposes no per-peer replication progress (the
// leader's match index per follower is internal), so there is no per-peer
// lag figure. What a node can report is its own position (LastIndex,
// CommitIndex, AppliedIndex: compare them across nodes with `tillctl
// status`, which asks every endpoint) and, on a follower, when it last heard
// from the leader (LastContact).
type Status struct {
	ID           string `json:"id"`
	Role         string `json:"role"` // "leader", "follower", "candidate", "shutdown"
	Serving      bool   `json:"serving"`
	Term         uint64 `json:"term"`
	LeaderID     string `json:"leader_id"`
	LeaderAddr   string `json:"leader_raft_addr,omitempty"`
	ActiveAddr   string `json:"active_addr"` // the active's register address
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	LastIndex    uint64 `json:"last_index"`
	// LastSnapshotIndex is the index of the latest Raft snapshot on this node.
	LastSnapshotIndex uint64 `json:"last_snapshot_index"`
	// LastContact is when this follower last heard from the leader; absent
	// on the leader and before any contact.
	LastContact *time.Time `json:"last_contact,omitempty"`
	Connections int64      `json:"register_connections"`
	Peers       []Member   `json:"peers"`
	// SAF lists, per acquirer with anything owed, the advices and reversals
	// not yet acknowledged (replicated: every node knows them).
	SAF []SAFQueue `json:"saf,omitempty"`
}

// SAFQueue is one acquirer's store-and-forward queue.
type SAFQueue struct {
	Acquirer string    `json:"acquirer"`
	Depth    int       `json:"depth"`
	Oldest   time.Time `json:"oldest"` // when the oldest entry was queued
}

// Member is one server of the Raft configuration.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	Suffrage string `json:"suffrage"` // "voter", "nonvoter", "staging"
	Leader   bool   `json:"leader"`
	// Self marks the node that answered.
	Self bool `json:"self"`
}

// Members is the answer of GET /members and of the membership changes.
type Members struct {
	LeaderID string   `json:"leader_id"`
	Members  []Member `json:"members"`
}

// AddMember is the body of POST /members: add (or re-address) a voter.
type AddMember struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
}

// Transfer is the answer of POST /leader/transfer.
type Transfer struct {
	From     string `json:"from"`
	LeaderID string `json:"leader_id"` // the new leader, if already known
}

// Snapshot is the answer of POST /snapshot.
type Snapshot struct {
	ID    string `json:"id"` // the node that took it
	Index uint64 `json:"index"`
	// Fresh is false when nothing was applied since the previous snapshot,
	// which then already covered the whole state.
	Fresh bool `json:"fresh"`
}

// Sum is a count and an amount in minor units.
type Sum struct {
	Count  int64 `json:"count"`
	Amount int64 `json:"amount"`
}

// Totals is the answer of GET /totals: approved and not reversed, by kind
// ("purchase", "refund", "cashback", "preauth", "completion").
type Totals struct {
	AppliedIndex uint64         `json:"applied_index"`
	Net          map[string]Sum `json:"net"`
}

// Hash is the answer of GET /hash: a digest of the whole replicated state at
// an applied index. Replicas at the same index must have the same hash.
type Hash struct {
	AppliedIndex uint64 `json:"applied_index"`
	SHA256       string `json:"sha256"`
}

// Txn is one transaction. The card appears only masked (BIN, six
// asterisks, last four); the encrypted PAN and its keyed hash never leave
// the node.
type Txn struct {
	ID               string `json:"id"`
	Type             string `json:"type"` // "purchase", "refund", ...
	MTI              string `json:"mti"`
	ProcCode         string `json:"proc_code"`
	Amount           int64  `json:"amount"` // minor units
	Currency         string `json:"currency"`
	Terminal         string `json:"terminal"`
	Merchant         string `json:"merchant"`
	STAN             string `json:"stan"`
	TransmissionTime string `json:"transmission_time"` // DE7 MMDDhhmmss
	PAN              string `json:"pan"`               // masked
	BIN              string `json:"bin"`
	Last4            string `json:"last4"`
	Acquirer         string `json:"acquirer"`
	AcqSTAN          string `json:"acquirer_stan"`
	RRN              string `json:"rrn"`
	OriginalID       string `json:"original_id,omitempty"`
	Status           string `json:"status"` // "pending", "approved", "declined", "unknown", "reversed"
	RC               string `json:"rc"`
	AuthCode         string `json:"auth_code"`
	StandIn          bool   `json:"stand_in"`
	Day              string `json:"day"` // business day YYYYMMDD
	// Batch is the register batch (of Terminal) the transaction is in.
	Batch uint64 `json:"batch"`
	// AcqTime is the DE7 the acquirer saw: with Terminal and AcqSTAN, the
	// transaction's identity at the acquirer.
	AcqTime string `json:"acquirer_time"`
	// Repeat: the acquirer was asked (also) by a repeat (xx01) of this
	// transaction, resolving an INTENT whose first asking left no outcome
	// (a takeover, or the active's own sweep). Only then may the acquirer
	// have seen its identity twice.
	Repeat    bool      `json:"repeat,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TxnQuery selects transactions for GET /txns; every set field must match.
// As URL parameters: terminal, merchant, day, status, rc, rrn, auth_code,
// bin, last4, acquirer, min_amount, max_amount, from, to (RFC 3339, on the
// creation time, to exclusive), limit, cursor.
type TxnQuery struct {
	Terminal, Merchant, Day, Status, RC, RRN string
	AuthCode, BIN, Last4, Acquirer           string
	MinAmount, MaxAmount                     *int64
	From, To                                 time.Time
	Limit                                    int
	Cursor                                   string
}

// TxnPage is the answer of GET /txns. NextCursor is empty on the last page.
type TxnPage struct {
	Txns       []Txn  `json:"txns"`
	NextCursor string `json:"next_cursor"`
}

// Report groupings for GET /reports?by=.
const (
	ByDay      = "day"
	ByMerchant = "merchant"
	ByTerminal = "terminal"
	ByAcquirer = "acquirer"
	ByRC       = "rc"
	ByHour     = "hour" // UTC, "2006-01-02T15"
)

// ReportQuery is GET /reports?by=&day=&type=.
type ReportQuery struct {
	By   string
	Day  string // YYYYMMDD; empty for every day
	Type string // "purchase", "refund", ...; empty for all
}

// ReportRow is one group. Total counts every transaction of the group
// (reversal messages excepted: the original they reversed counts as
// Reversed); Approved, Declined and Reversed split it by status, pending
// and unknown ones being only in Total. Amounts are requested amounts in
// minor units, whatever the type.
type ReportRow struct {
	Key      string `json:"key"`
	Total    Sum    `json:"total"`
	Approved Sum    `json:"approved"`
	Declined Sum    `json:"declined"`
	Reversed Sum    `json:"reversed"`
}

// Report is the answer of GET /reports.
type Report struct {
	By   string      `json:"by"`
	Day  string      `json:"day,omitempty"`
	Type string      `json:"type,omitempty"`
	Rows []ReportRow `json:"rows"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
	// Param names the request parameter that was wrong, if one was.
	Param string `json:"param,omitempty"`
	// LeaderID names the leader when a write reached a follower (421).
	LeaderID string `json:"leader_id,omitempty"`
	// Need names the role the request needed (403).
	Need string `json:"need,omitempty"`
}

// Leaders is the answer of GET /leaders: every (term, leader) this node has
// seen, oldest first (the last 10,000). Across all nodes, a term must never
// name two leaders.
type Leaders struct {
	ID   string       `json:"id"`
	Seen []LeaderSeen `json:"seen"`
}

// LeaderSeen is one leader this node learnt of, and when.
type LeaderSeen struct {
	Term     uint64    `json:"term"`
	LeaderID string    `json:"leader_id"`
	At       time.Time `json:"at"`
}

// MerchantAdd is the body of POST /merchants: a card-not-present merchant
// and its first API key, of which only the SHA-256 travels (tillctl makes
// or takes the key and keeps it to itself).
type MerchantAdd struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	KeyName string `json:"key_name"`
	KeyHash string `json:"key_sha256"` // 64 hex characters
}

// Merchant is a card-not-present merchant: its virtual terminal (DE41) and
// merchant number (DE42) are what its payments carry.
type Merchant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Terminal  string    `json:"terminal"`
	MID       string    `json:"merchant_number"`
	Keys      []string  `json:"keys"` // the API keys' names
	CreatedAt time.Time `json:"created_at"`
	// Webhook is the URL the merchant's payment events are posted to
	// ("" for none); its secret is never shown.
	Webhook string `json:"webhook,omitempty"`
	// WebhookQueued counts the events not yet acknowledged by the merchant.
	WebhookQueued int `json:"webhook_queued,omitempty"`
}

// MerchantWebhook is the body of POST /merchants/{id}/webhook: the URL
// (empty to remove the webhook, which drops its queued events) and the
// HMAC-SHA256 secret of the signatures (16-256 bytes; tillctl makes one).
type MerchantWebhook struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// Merchants is the answer of GET /merchants.
type Merchants struct {
	Merchants []Merchant `json:"merchants"`
}
