package store

import (
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Report groupings: what a ReportRow's Key is.
const (
	ByDay      = "day"      // business day YYYYMMDD
	ByMerchant = "merchant" // merchant id
	ByTerminal = "terminal" // terminal id
	ByAcquirer = "acquirer" // acquirer name
	ByRC       = "rc"       // response code ("-" while none)
	ByHour     = "hour"     // CreatedAt's UTC hour, "2006-01-02T15"
)

// ReportBys lists the groupings Report knows.
var ReportBys = []string{ByDay, ByMerchant, ByTerminal, ByAcquirer, ByRC, ByHour}

// ReportRow is one group of a Report. Total counts every transaction of
// the group; Approved, Declined and Reversed split it by final status
// (pending and unknown ones are only in Total). Amounts are the requested
// amounts in minor units, whatever the type: a refund adds to the sum like
// a purchase, so filter by type for money in or out.
type ReportRow struct {
	Key                                 string
	Total, Approved, Declined, Reversed Sum
}

// ReportQuery selects what Report sums.
type ReportQuery struct {
	By   string // one of ReportBys
	Day  string // business day YYYYMMDD; "" for every day
	Type string // a TxnType name ("purchase", "refund", ...); "" for all
}

// Report sums transactions by q.By, in key order. Reversal messages are not
// rows of their own: the original they reversed counts as Reversed. It
// walks the day index when q.Day is set, else every transaction.
func (s *Store) Report(q ReportQuery) ([]ReportRow, error) {
	key, err := reportKey(q.By)
	if err != nil {
		return nil, err
	}
	rows := map[string]*ReportRow{}
	err = s.view(func(tx *bolt.Tx) error {
		return q.each(tx, func(t *Txn) {
			if t.Type == TypeReversal || (q.Type != "" && t.Type.String() != q.Type) {
				return
			}
			k := key(t)
			r := rows[k]
			if r == nil {
				r = &ReportRow{Key: k}
				rows[k] = r
			}
			r.add(t)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: report by %s: %w", q.By, err)
	}
	out := make([]ReportRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b ReportRow) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (r *ReportRow) add(t *Txn) {
	inc := func(s *Sum) { s.Count++; s.Amount += t.Amount }
	inc(&r.Total)
	switch t.Status {
	case StatusApproved:
		inc(&r.Approved)
	case StatusDeclined:
		inc(&r.Declined)
	case StatusReversed:
		inc(&r.Reversed)
	}
}

func reportKey(by string) (func(*Txn) string, error) {
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	switch by {
	case ByDay:
		return func(t *Txn) string { return t.Day }, nil
	case ByMerchant:
		return func(t *Txn) string { return orDash(t.MerchantID) }, nil
	case ByTerminal:
		return func(t *Txn) string { return t.TerminalID }, nil
	case ByAcquirer:
		return func(t *Txn) string { return orDash(t.Acquirer) }, nil
	case ByRC:
		return func(t *Txn) string { return orDash(t.RC) }, nil
	case ByHour:
		return func(t *Txn) string { return time.Unix(0, t.CreatedAt).UTC().Format("2006-01-02T15") }, nil
	}
	return nil, fmt.Errorf("%w: report by %q: want one of %v", ErrInvalid, by, ReportBys)
}

// each calls fn for every transaction of q.Day (or of every day).
func (q ReportQuery) each(tx *bolt.Tx, fn func(*Txn)) error {
	if q.Day == "" {
		return tx.Bucket(bucketTxns).ForEach(func(k, v []byte) error {
			t, err := decodeTxn(v)
			if err != nil {
				return fmt.Errorf("record %x: %w", k, err)
			}
			fn(t)
			return nil
		})
	}
	return eachInDay(tx, q.Day, func(_ []byte, t *Txn) error {
		fn(t)
		return nil
	})
}
