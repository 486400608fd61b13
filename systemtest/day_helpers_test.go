package systemtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/tillgate/tillgate/node/adminapi"
)

// Business-day checks through the admin API, shared by the in-process and
// the process tests: what they say holds on every node alike.

// txnDays lists every transaction a node holds, by day, through GET /txns:
// the ones each day's index names, and all of them. It fails the test when
// an id is in two days or in none of days.
func txnDays(t *testing.T, c *adminapi.Client, days []string) map[string]string {
	t.Helper()
	dayOf := map[string]string{}
	for _, day := range days {
		for id := range listTxns(t, c, adminapi.TxnQuery{Day: day}) {
			if other, ok := dayOf[id]; ok {
				t.Errorf("%s: transaction %s is in day %s and in day %s", c.Base, id, other, day)
			}
			dayOf[id] = day
		}
	}
	all := listTxns(t, c, adminapi.TxnQuery{})
	for id, tx := range all {
		if _, ok := dayOf[id]; !ok {
			t.Errorf("%s: transaction %s (day %q) is in none of the days %v", c.Base, id, tx.Day, days)
		}
	}
	if len(all) != len(dayOf) {
		t.Errorf("%s: %d transactions in all, %d in the days %v", c.Base, len(all), len(dayOf), days)
	}
	return dayOf
}

// listTxns pages through GET /txns.
func listTxns(t *testing.T, c *adminapi.Client, q adminapi.TxnQuery) map[string]adminapi.Txn {
	t.Helper()
	out := map[string]adminapi.Txn{}
	q.Limit = 1000
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		page, err := c.Txns(ctx, q)
		cancel()
		if err != nil {
			t.Fatalf("txns %+v: %v", q, err)
		}
		for _, tx := range page.Txns {
			out[tx.ID] = tx
		}
		if page.NextCursor == "" {
			return out
		}
		q.Cursor = page.NextCursor
	}
}

// daysOf is a node's GET /days.
func daysOf(t *testing.T, c *adminapi.Client) adminapi.Days {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := c.Days(ctx)
	if err != nil {
		t.Fatalf("days: %v", err)
	}
	return d
}

// wantDays checks a node's list of days: exactly the days named, in order,
// with those statuses; open is the open day.
func wantDays(t *testing.T, c *adminapi.Client, open string, want ...string) adminapi.Days {
	t.Helper()
	d := daysOf(t, c)
	var got []string
	for _, day := range d.Days {
		got = append(got, day.Day+" "+day.Status)
	}
	if d.Open != open || !slices.Equal(got, want) {
		t.Errorf("%s: days %v, open %s; want %v, open %s", c.Base, got, d.Open, want, open)
	}
	return d
}

// sameFileEverywhere fetches day's settlement file of acquirer in both
// formats from every node: the bytes must be the same everywhere and hash
// to the checksums the log records (rec). It returns the CSV and the JSON.
func sameFileEverywhere(t *testing.T, clients []*adminapi.Client, day string, rec adminapi.DayFile) (csv, js []byte) {
	t.Helper()
	for _, format := range []string{"csv", "json"} {
		want := rec.CSVSHA256
		if format == "json" {
			want = rec.JSONSHA256
		}
		var first []byte
		for i, c := range clients {
			b, recorded, err := settlementFile(c, day, rec.Acquirer, format)
			if err != nil {
				t.Fatalf("%s: settlement %s %s.%s: %v", c.Base, day, rec.Acquirer, format, err)
			}
			if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != want || recorded != want {
				t.Errorf("%s: %s %s.%s hashes to %x, the log says %s (header %s)", c.Base, day, rec.Acquirer, format, h, want, recorded)
			}
			if i == 0 {
				first = b
			} else if !bytes.Equal(b, first) {
				t.Errorf("%s: %s %s.%s differs from %s's", c.Base, day, rec.Acquirer, format, clients[0].Base)
			}
		}
		if format == "csv" {
			csv = first
		} else {
			js = first
		}
	}
	return csv, js
}

// oneFile returns the only file recorded for a day, failing otherwise.
func oneFile(t *testing.T, d adminapi.Days, day string) adminapi.DayFile {
	t.Helper()
	for _, x := range d.Days {
		if x.Day == day {
			if len(x.Files) != 1 {
				t.Fatalf("day %s has %d files recorded, want 1: %+v", day, len(x.Files), x.Files)
			}
			return x.Files[0]
		}
	}
	t.Fatalf("no day %s in %+v", day, d)
	return adminapi.DayFile{}
}

// dayStatus is the status of day in d, "" if absent.
func dayStatus(d adminapi.Days, day string) (string, int) {
	for _, x := range d.Days {
		if x.Day == day {
			return x.Status, len(x.Files)
		}
	}
	return "", 0
}

// inOneDay checks that every approval a register saw is in one of the
// days the node lists (dayOf, from txnDays) and returns the approvals per
// day.
func inOneDay(t *testing.T, node string, dayOf map[string]string, approved []string) map[string]int {
	t.Helper()
	per := map[string]int{}
	for _, id := range approved {
		day, ok := dayOf[id]
		if !ok {
			t.Errorf("%s: approval %s the register got is in no day", node, id)
			continue
		}
		per[day]++
	}
	return per
}

func sortedKeys(m map[string]int) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(ks)
	return fmt.Sprint(ks)
}

// settlementFile fetches a file, waiting (bounded) while the node cannot
// vouch for it yet: a standby applies the active's record of the checksum
// moments after the active wrote it.
func settlementFile(c *adminapi.Client, day, acquirer, format string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		b, recorded, err := c.SettlementFile(ctx, day, acquirer, format)
		if !adminapi.IsNotYet(err) || ctx.Err() != nil {
			return b, recorded, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
