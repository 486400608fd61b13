package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Pay-by-link (node/payments). A link is a merchant's request for a
// payment of a fixed amount, sent to a customer as a URL with an
// unguessable token; the customer pays it on the node's payment page.
// Each try is a Payment whose Link names the link (an attempt), recorded
// by OpPaymentCreate, which checks the link's rules in the same command:
// a link that is paid (an attempt approved) or expired takes no new
// attempt, and one attempt at a time may be in progress, so that two
// browser tabs cannot both pay it.

// OpLinkCreate records a payment link.
const OpLinkCreate Op = 24

// LinkAttemptWindow is how long an attempt whose authorization was never
// recorded (its challenge is waiting, or the card was lost with a node)
// keeps a new attempt out. After it, a customer who walked away from a
// challenge may try again. An attempt whose authorization's INTENT is
// recorded keeps new ones out until its outcome is final.
const LinkAttemptWindow = 15 * time.Minute

// Link is a payment link.
type Link struct {
	ID            string
	Merchant      string
	Token         string // the URL's unguessable part
	Amount        int64
	Currency      string // ISO 4217 numeric
	Description   string
	CustomerName  string
	CustomerEmail string
	ExpiresAt     int64 // unix nanos
	At            int64 // created, unix nanos stamped by the leader
	// Attempts are the payments made to pay it, oldest first.
	Attempts []string
}

// LinkCreateCmd encodes OpLinkCreate. Apply ignores l.Attempts.
func LinkCreateCmd(l Link) []byte {
	w := writer{b: []byte{cmdVersion, byte(OpLinkCreate)}}
	l.Attempts = nil
	appendLink(&w, &l)
	return w.b
}

func appendLink(w *writer, l *Link) {
	for _, s := range []string{l.ID, l.Merchant, l.Token} {
		w.str(s)
	}
	w.int(l.Amount)
	for _, s := range []string{l.Currency, l.Description, l.CustomerName, l.CustomerEmail} {
		w.str(s)
	}
	w.int(l.ExpiresAt)
	w.int(l.At)
	w.int(int64(len(l.Attempts)))
	for _, a := range l.Attempts {
		w.str(a)
	}
}

func readLink(r *reader) *Link {
	l := &Link{ID: r.str(), Merchant: r.str(), Token: r.str(), Amount: r.int()}
	l.Currency, l.Description, l.CustomerName, l.CustomerEmail = r.str(), r.str(), r.str(), r.str()
	l.ExpiresAt, l.At = r.int(), r.int()
	for n := r.count(); n > 0; n-- {
		l.Attempts = append(l.Attempts, r.str())
	}
	return l
}

// linkCreate records l; a link already recorded under its id (a retry of
// the same call) is returned as it is, Existed.
func (a *applier) linkCreate(l *Link) (Result, error) {
	switch {
	case l.ID == "" || len(l.ID) > maxKeyField || len(l.Token) < 16 || len(l.Token) > maxKeyField,
		l.Amount <= 0, len(l.Description) > 1024, len(l.CustomerName) > 255, len(l.CustomerEmail) > 255,
		l.ExpiresAt <= l.At, len(l.Attempts) != 0:
		return Result{Err: fmt.Errorf("%w: link %q", ErrInvalid, l.ID)}, nil
	}
	old, err := getLink(a.tx, l.ID)
	if err != nil || old != nil {
		return Result{Link: old, Existed: old != nil}, err
	}
	if m, err := getMerchant(a.tx, l.Merchant); err != nil || m == nil {
		if err == nil {
			return Result{Err: fmt.Errorf("%w: link %s: no merchant %q", ErrInvalid, l.ID, l.Merchant)}, nil
		}
		return Result{}, err
	}
	tokens := a.tx.Bucket(bucketLinkTokens)
	if tokens.Get([]byte(l.Token)) != nil {
		return Result{Err: fmt.Errorf("%w: link token in use", ErrConflict)}, nil
	}
	if err := a.putLink(l); err != nil {
		return Result{}, err
	}
	if err := tokens.Put([]byte(l.Token), []byte(l.ID)); err != nil {
		return Result{}, err
	}
	idx := append(joinKey(l.Merchant, ""), binary.BigEndian.AppendUint64(nil, uint64(l.At))...)
	return Result{Link: l}, a.tx.Bucket(bucketLinkIdx).Put(append(idx, l.ID...), []byte(l.ID))
}

// linkAttempt checks that payment p may try to pay its link, and returns
// the link. A refusal (in the Result) names the attempt that stands in
// the way, as its Payment.
func (a *applier) linkAttempt(p *Payment) (*Link, Result, error) {
	l, err := getLink(a.tx, p.Link)
	switch {
	case err != nil:
		return nil, Result{}, err
	case l == nil || l.Merchant != p.Merchant:
		return nil, Result{Err: fmt.Errorf("%w: payment %s: no link %q of merchant %s", ErrInvalid, p.ID, p.Link, p.Merchant)}, nil
	case l.Amount != p.Amount || l.Currency != p.Currency:
		return nil, Result{Err: fmt.Errorf("%w: payment %s: amount or currency differs from link %s", ErrInvalid, p.ID, l.ID)}, nil
	case p.At >= l.ExpiresAt:
		return nil, Result{Err: fmt.Errorf("%w: link %s expired", ErrState, l.ID)}, nil
	}
	for _, id := range l.Attempts {
		q, err := getPayment(a.tx, id)
		if err != nil || q == nil {
			return nil, Result{}, fmt.Errorf("%w: link %s names payment %q: %v", ErrCorrupt, l.ID, id, err)
		}
		t, _, err := a.get(q.Steps[0].TxnID)
		if err != nil {
			return nil, Result{}, err
		}
		switch {
		case t != nil && t.Status == StatusApproved:
			return nil, Result{Payment: q, Err: fmt.Errorf("%w: link %s is paid (payment %s)", ErrState, l.ID, q.ID)}, nil
		case q.Auth.Status == AuthFailed || t != nil && t.Status != StatusPending:
			continue // that attempt is over
		case t != nil || p.At-q.At < int64(LinkAttemptWindow):
			// An authorization whose INTENT is recorded may yet be
			// approved, however old (a takeover or the sweep resolves
			// it): only an attempt that never reached the acquirer times
			// out, and node/payments authorizes none but a link's latest
			// attempt.
			return nil, Result{Payment: q, Err: fmt.Errorf("%w: link %s: payment %s is in progress", ErrConflict, l.ID, q.ID)}, nil
		}
	}
	return l, Result{}, nil
}

func (a *applier) putLink(l *Link) error {
	w := writer{}
	appendLink(&w, l)
	return a.tx.Bucket(bucketLinks).Put([]byte(l.ID), w.b)
}

func getLink(tx *bolt.Tx, id string) (*Link, error) {
	v := tx.Bucket(bucketLinks).Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	r := reader{b: v}
	l := readLink(&r)
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("link %s: %w", id, err)
	}
	return l, nil
}

// Link returns link id (nil if there is none).
func (s *Store) Link(id string) (*Link, error) {
	var l *Link
	err := s.view(func(tx *bolt.Tx) (err error) {
		l, err = getLink(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: link %s: %w", id, err)
	}
	return l, nil
}

// LinkByToken returns the link whose URL carries token (nil if none).
func (s *Store) LinkByToken(token string) (*Link, error) {
	var l *Link
	err := s.view(func(tx *bolt.Tx) (err error) {
		id := tx.Bucket(bucketLinkTokens).Get([]byte(token))
		if id == nil {
			return nil
		}
		l, err = getLink(tx, string(id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: link by token: %w", err)
	}
	return l, nil
}

// Links lists up to limit links of merchant, oldest first, after cursor
// ("" from the start; the cursor returned is "" at the end).
func (s *Store) Links(merchant, cursor string, limit int) ([]*Link, string, error) {
	prefix := joinKey(merchant, "")
	after, err := hex.DecodeString(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("store: links cursor %q: %w", cursor, ErrInvalid)
	}
	var out []*Link
	var next string
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLinkIdx).Cursor()
		k, v := c.Seek(append(bytes.Clone(prefix), after...))
		if len(after) > 0 && k != nil && bytes.Equal(k[len(prefix):], after) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(out) == limit {
				next = hex.EncodeToString(out[len(out)-1].cursor())
				break
			}
			l, err := getLink(tx, string(v))
			if err != nil || l == nil {
				return fmt.Errorf("%w: link index names %q: %v", ErrCorrupt, v, err)
			}
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: links of %s: %w", merchant, err)
	}
	return out, next, nil
}

func (l *Link) cursor() []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(l.At)), l.ID...)
}
