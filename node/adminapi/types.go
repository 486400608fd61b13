package adminapi

// Status is the answer of GET /status.
type Status struct {
	ID           string `json:"id"`
	Role         string `json:"role"` // "leader", "follower", "candidate", "shutdown"
	Serving      bool   `json:"serving"`
	Term         uint64 `json:"term"`
	LeaderID     string `json:"leader_id"`
	ActiveAddr   string `json:"active_addr"` // the active's register address
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	LastIndex    uint64 `json:"last_index"`
	Connections  int64  `json:"register_connections"`
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

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}
