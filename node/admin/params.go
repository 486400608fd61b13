package admin

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/store"
)

// txnQueryParams are the parameters of GET /txns.
var txnQueryParams = []string{"terminal", "merchant", "day", "status", "rc", "rrn", "auth_code", "bin", "last4",
	"acquirer", "min_amount", "max_amount", "from", "to", "limit", "cursor"}

// parseTxnQuery reads the parameters of GET /txns, naming the first bad one.
func parseTxnQuery(v url.Values) (store.Query, *adminapi.Error) {
	if perr := onlyParams(v, txnQueryParams...); perr != nil {
		return store.Query{}, perr
	}
	q := store.Query{
		Terminal: v.Get("terminal"), Merchant: v.Get("merchant"), Day: v.Get("day"), RRN: v.Get("rrn"),
		RC: v.Get("rc"), AuthCode: v.Get("auth_code"), BIN: v.Get("bin"), Last4: v.Get("last4"),
		Acquirer: v.Get("acquirer"), Cursor: v.Get("cursor"),
	}
	checks := []func() *adminapi.Error{
		func() *adminapi.Error { return checkDay(q.Day) },
		func() (e *adminapi.Error) { q.Status, e = parseStatus(v.Get("status")); return e },
		func() *adminapi.Error { return checkDigits("bin", q.BIN, 1, 8) },
		func() *adminapi.Error { return checkDigits("last4", q.Last4, 4, 4) },
		func() *adminapi.Error { return checkLen("rc", q.RC, 2) },
		func() (e *adminapi.Error) { q.MinAmount, e = parseAmount(v, "min_amount"); return e },
		func() (e *adminapi.Error) { q.MaxAmount, e = parseAmount(v, "max_amount"); return e },
		func() (e *adminapi.Error) { q.From, e = parseTime(v, "from"); return e },
		func() (e *adminapi.Error) { q.To, e = parseTime(v, "to"); return e },
		func() (e *adminapi.Error) { q.Limit, e = parseLimit(v.Get("limit")); return e },
	}
	for _, check := range checks {
		if e := check(); e != nil {
			return store.Query{}, e
		}
	}
	if q.MinAmount != nil && q.MaxAmount != nil && *q.MinAmount > *q.MaxAmount {
		return store.Query{}, paramErr("max_amount", "is below min_amount")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return store.Query{}, paramErr("to", "is not after from")
	}
	return q, nil
}

func onlyParams(v url.Values, known ...string) *adminapi.Error {
	for k := range v {
		if !slices.Contains(known, k) {
			return paramErr(k, "unknown parameter: want one of "+strings.Join(known, ", "))
		}
	}
	return nil
}

func checkDay(day string) *adminapi.Error {
	if day == "" {
		return nil
	}
	if _, err := time.Parse("20060102", day); err != nil || len(day) != 8 {
		return paramErr("day", fmt.Sprintf("%q: want a business day as YYYYMMDD", day))
	}
	return nil
}

func checkDigits(name, s string, minLen, maxLen int) *adminapi.Error {
	if s == "" {
		return nil
	}
	ok := len(s) >= minLen && len(s) <= maxLen
	for _, c := range s {
		ok = ok && c >= '0' && c <= '9'
	}
	if !ok {
		return paramErr(name, fmt.Sprintf("%q: want %d to %d digits", s, minLen, maxLen))
	}
	return nil
}

func checkLen(name, s string, n int) *adminapi.Error {
	if s != "" && len(s) != n {
		return paramErr(name, fmt.Sprintf("%q: want %d characters", s, n))
	}
	return nil
}

func parseStatus(s string) (*store.Status, *adminapi.Error) {
	if s == "" {
		return nil, nil
	}
	var names []string
	for i := store.StatusPending; i <= store.StatusReversed; i++ {
		if i.String() == s {
			return &i, nil
		}
		names = append(names, i.String())
	}
	return nil, paramErr("status", fmt.Sprintf("%q: want one of %s", s, strings.Join(names, ", ")))
}

func txnTypes() []string {
	var out []string
	for t := store.TypePurchase; t <= store.TypeCompletion; t++ {
		out = append(out, t.String())
	}
	return out
}

func parseAmount(v url.Values, name string) (*int64, *adminapi.Error) {
	s := v.Get(name)
	if s == "" {
		return nil, nil
	}
	a, err := strconv.ParseInt(s, 10, 64)
	if err != nil || a < 0 {
		return nil, paramErr(name, fmt.Sprintf("%q: want a non-negative amount in minor units (1234 for 12.34)", s))
	}
	return &a, nil
}

func parseTime(v url.Values, name string) (time.Time, *adminapi.Error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, paramErr(name, fmt.Sprintf("%q: want an RFC 3339 time such as 2025-11-22T12:00:00Z", s))
	}
	return t, nil
}

func parseLimit(s string) (int, *adminapi.Error) {
	if s == "" {
		return 0, nil
	}
	l, err := strconv.Atoi(s)
	if err != nil || l < 1 || l > store.MaxListLimit {
		return 0, paramErr("limit", fmt.Sprintf("%q: want 1 to %d", s, store.MaxListLimit))
	}
	return l, nil
}
