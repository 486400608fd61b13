package sim

// LedgerRecord is one identity of the ledger as acqsim exports it (GET
// /ledger): what the host answered and how often it was asked, for a
// checker that compares it with what the clients hold. Never card data.
type LedgerRecord struct {
	// Key is class(4) + DE41(8) + DE11(6) + DE7(10). A record that a
	// strict host forgot (older than its duplicate window) and that a
	// later frame of the same identity replaced is kept under Key + "~" +
	// its receipt time (unix nanos, 19 digits).
	Key   string `json:"key"`
	Class string `json:"class"` // 0100, 0120, 0200, 0220 or 0400 (0420 is 0400)
	// Kind is purchase, refund, cashback, balance, preauth, completion or
	// reversal; "" for a tombstone.
	Kind     string `json:"kind"`
	Amount   int64  `json:"amount"`
	RC       string `json:"rc"`        // DE39 answered ("94" for an identity only ever refused)
	AuthCode string `json:"auth_code"` // DE38 answered
	RRN      string `json:"rrn"`
	Day      string `json:"day"` // UTC day of receipt, YYYYMMDD
	// Original is the key of the transaction a reversal, completion or
	// advice names in DE90, or "".
	Original    string `json:"original"`
	Reversed    bool   `json:"reversed"`
	ReversedDay string `json:"reversed_day"`
	// Tombstone: a reversal named this identity before it arrived
	// (lenient host only).
	Tombstone bool `json:"tombstone"`
	StandIn   bool `json:"stand_in"`
	// Advice: a stand-in 0220 or an 0120 advice, booked under its own
	// identity.
	Advice bool `json:"advice"`
	// Requests counts the frames of this identity the host processed:
	// the first and those answered from the ledger. Repeats: of those,
	// the ones with a repeat MTI (xx01). Refused: frames of this identity
	// answered 94 (duplicate transmission or STAN reuse).
	Requests int64 `json:"requests"`
	Repeats  int64 `json:"repeats"`
	Refused  int64 `json:"refused"`
}

// Records is every record of the ledger in key order, declines and
// tombstones included.
func (l *Ledger) Records() ([]LedgerRecord, error) {
	out := []LedgerRecord{}
	err := l.each(func(key string, r *record) {
		out = append(out, LedgerRecord{
			Key: key, Class: r.Class, Kind: r.Kind, Amount: r.Amount, RC: r.RC, AuthCode: r.AuthCode, RRN: r.RRN,
			Day: r.Day, Original: r.Original, Reversed: r.Reversed, ReversedDay: r.ReversedDay, Tombstone: r.Tombstone,
			StandIn: r.StandIn, Advice: r.Advice, Requests: r.Requests, Repeats: r.Repeats, Refused: r.Refused,
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
