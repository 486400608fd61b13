package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer"
	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/wire"
)

// ledgerFields are the JSON fields of a ledger record (the contract with
// the checker).
var ledgerFields = []string{"key", "class", "kind", "amount", "rc", "auth_code", "rrn", "day", "original", "reversed",
	"reversed_day", "tombstone", "stand_in", "advice", "requests", "repeats", "refused"}

// TestServeStrict runs `serve --strict`: a duplicate transmission is 94 and
// a reversal of an unknown original 25, both counted in /stats; the link
// answers the host's echoes and stays up; /ledger has the contract's
// fields and the refusal on the record.
func TestServeStrict(t *testing.T) {
	a := startServe(t, t.TempDir(), "--strict", "--echo-every", "10ms", "--echo-timeout", "5s", "--dup-window", "1h")
	link, err := acquirer.Open(acquirer.Config{Addr: a.iso, Dialect: wire.DefaultDialect(), Timeout: 5 * time.Second, Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	p := purchase("000001", 1000)
	rev := &wire.Message{MTI: "0400", ProcCode: "000000", Amount: 500, HasAmount: true, TransmissionTime: "0102030405",
		STAN: "000003", TerminalID: "TERM0001", Currency: "978", OriginalData: "0200" + "000002" + "0102030405" + strings.Repeat("0", 22)}
	for _, step := range []struct {
		m  *wire.Message
		rc string
	}{{p, "00"}, {p, "94"}, {rev, "25"}} {
		r, err := link.Send(context.Background(), step.m)
		if err != nil || r.ResponseCode != step.rc {
			t.Fatalf("%s %s: %v %v, want RC %s", step.m.MTI, step.m.STAN, r, err, step.rc)
		}
	}

	var st sim.Stats
	waitUntil(t, "three host echoes", func() bool {
		getJSON(t, "http://"+a.admin+"/stats", &st)
		return st.HostEchoes >= 3
	})
	if st.Refused != 1 || st.UnknownOriginal != 1 || st.STANReuse != 0 || st.HostEchoTimeouts != 0 {
		t.Errorf("/stats %+v", st)
	}
	if ls := link.Stats(); ls.Reconnects != 0 || ls.Connected != 1 {
		t.Errorf("link %+v: the host's echoes must not cost the connection", ls)
	}

	resp, err := http.Get("http://" + a.admin + "/ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Records []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Records) != 1 {
		t.Fatalf("/ledger %v, want the purchase only (the 25 is forgotten)", body.Records)
	}
	r := body.Records[0]
	var fields []string
	for f := range r {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	want := slices.Sorted(slices.Values(ledgerFields))
	if !slices.Equal(fields, want) {
		t.Errorf("fields %v, want %v", fields, want)
	}
	if r["key"] != "0200"+p.Key() || r["rc"] != "00" || r["requests"] != 1.0 || r["refused"] != 1.0 || r["kind"] != "purchase" {
		t.Errorf("record %v", r)
	}
}

// waitUntil polls cond until it holds (10 s at most).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
