package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tillgate/tillgate/acquirer/sim"
	"github.com/tillgate/tillgate/node"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/settle"
	"github.com/tillgate/tillgate/wire"
)

// dayRegister sells on one terminal and keeps what it needs to name
// originals and to send its 0500.
type dayRegister struct {
	t *testing.T
	*register
}

func (r *dayRegister) send(m *wire.Message) *wire.Message {
	r.t.Helper()
	r.stan++
	m.TerminalID, m.STAN = r.tid, pad6(r.stan)
	m.TransmissionTime = time.Now().UTC().Format("0102150405")
	resp, err := r.transact(m)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp
}

func (r *dayRegister) approved(m *wire.Message) *wire.Message {
	r.t.Helper()
	if resp := r.send(m); resp.ResponseCode != wire.RCApproved {
		r.t.Fatalf("%s %s %d: RC %s, want 00", m.MTI, m.ProcCode, m.Amount, resp.ResponseCode)
	}
	return m
}

func linked(mti string, amount int64, orig *wire.Message) *wire.Message {
	m := purchase(amount)
	m.MTI, m.ProcCode = mti, orig.ProcCode
	m.OriginalData = wire.OriginalMTI(orig.MTI) + orig.STAN + orig.TransmissionTime + strings.Repeat("0", 22)
	return m
}

func batchClose(proc string, t wire.Totals) *wire.Message {
	return &wire.Message{MTI: "0500", ProcCode: proc, Totals: &t, MerchantID: "MERCHANT0000001", Currency: "978"}
}

// TestBusinessDayClose runs a day through to its reconciliation on three
// nodes: purchases, a refund, a cashback, a void, a pre-auth and its
// completion, a stand-in while the acquirer is down; a register batch that
// balances and one that first does not; an operator cutover; the file from
// every node byte for byte, with the checksum the log records; and the
// reconciliation with acqsim's export, once doctored (the report must name
// the RRN) and once as exported (reconciled).
func TestBusinessDayClose(t *testing.T) {
	tr := safTrio(t, node.StandInPolicy{Enabled: true, FloorLimit: 1000, CardCount: 5, OfflineCap: 100000})
	lead := tr.leader()
	r1 := &dayRegister{t, newRegister(t, tr.addr(lead), "TDAY0001")}
	r2 := &dayRegister{t, newRegister(t, tr.addr(lead), "TDAY0002")}

	p1 := r1.approved(purchase(1000))
	refund := purchase(300)
	refund.ProcCode = "200000"
	r1.approved(refund)
	cash := purchase(500)
	cash.ProcCode = "090000"
	r1.approved(cash)
	voided := r1.approved(purchase(400))
	r1.approved(linked("0400", 400, voided))
	pre := purchase(800)
	pre.MTI = "0100"
	r1.approved(pre)
	r1.approved(linked("0220", 700, pre))
	if resp := r1.send(purchase(951)); resp.ResponseCode != wire.RCInsufficientFunds {
		t.Fatalf("decline: %s", resp.ResponseCode)
	}
	r2.approved(purchase(250))
	tr.sim.SetFault(sim.Fault{Down: true})
	si := r2.send(purchase(200))
	if si.ResponseCode != wire.RCApproved || !standIn(si) {
		t.Fatalf("stand-in: RC %s auth %q", si.ResponseCode, si.AuthCode)
	}
	tr.sim.SetFault(sim.Fault{})
	tr.waitDrained()

	// Batches: r1 balances at once; r2 first sends wrong totals (95, the
	// 0510 carries ours), then the right ones.
	want1 := wire.Totals{DebitsCount: 3, DebitsAmount: 1000 + 500 + 700, CreditsCount: 1, CreditsAmount: 300,
		DebitsReversalCount: 1, DebitsReversalAmount: 400, NetAmount: 2200 - 300}
	if resp := r1.send(batchClose(wire.ProcSettle, want1)); resp.MTI != "0510" || resp.ResponseCode != wire.RCApproved || *resp.Totals != want1 {
		t.Fatalf("0500 of r1: %s %s %+v", resp.MTI, resp.ResponseCode, resp.Totals)
	}
	want2 := wire.Totals{DebitsCount: 2, DebitsAmount: 450, NetAmount: 450}
	wrong := want2
	wrong.DebitsAmount, wrong.NetAmount = 440, 440
	if resp := r2.send(batchClose("", wrong)); resp.ResponseCode != wire.RCReconcileError || *resp.Totals != want2 {
		t.Fatalf("0500 of r2 out of balance: %s %+v, want 95 with %+v", resp.ResponseCode, resp.Totals, want2)
	}
	if resp := r2.send(batchClose(wire.ProcSettle, want2)); resp.ResponseCode != wire.RCApproved {
		t.Fatalf("0500 of r2: %s", resp.ResponseCode)
	}

	admin := adminapi.NewClient(tr.cl.Configs[lead].AdminAddr)
	ctx := context.Background()
	days, err := admin.Days(ctx)
	if err != nil || days.Open == "" {
		t.Fatalf("days: %+v %v", days, err)
	}
	day := days.Open
	cut, err := admin.Cutover(ctx, day)
	if err != nil || cut.Closed != day || cut.Opened <= day {
		t.Fatalf("cutover: %+v %v", cut, err)
	}
	// A retried cutover of the same day is refused: the day closes once.
	var apiErr *adminapi.APIError
	if _, err := admin.Cutover(ctx, day); !errors.As(err, &apiErr) || apiErr.StatusCode != 409 {
		t.Fatalf("second cutover of %s: %v, want 409", day, err)
	}

	var rec adminapi.Day
	poll(t, "the day's file recorded", func() error {
		rec, err = admin.Day(ctx, day)
		if err != nil {
			return err
		}
		if rec.Status != "settled" || len(rec.Files) != 1 {
			return fmt.Errorf("day %s: %s, %d files", day, rec.Status, len(rec.Files))
		}
		return nil
	})
	tr.waitConverged()
	file := fetchEverywhere(t, tr, day, "acquirer.csv", rec.Files[0].CSVSHA256)
	fetchEverywhere(t, tr, day, "acquirer.json", rec.Files[0].JSONSHA256)
	onDisk, err := os.ReadFile(filepath.Join(tr.cl.Configs[lead].DataDir, "settlement", day, "acquirer.csv"))
	if err != nil || !bytes.Equal(onDisk, file) {
		t.Fatalf("the active's file on disk differs from the served one (%v)", err)
	}

	ours, err := settle.ReadCSV(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, row := range ours.Rows {
		got[row.Type+"/"+row.Status+"/"+fmt.Sprint(row.Amount, row.StandIn)]++
	}
	wantRows := map[string]int{
		"purchase/approved/1000 false": 1, "refund/approved/300 false": 1, "cashback/approved/500 false": 1,
		"purchase/reversed/400 false": 1, "completion/approved/700 false": 1,
		"purchase/approved/200 true": 1, "purchase/approved/250 false": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(wantRows) {
		t.Fatalf("rows %v\nwant %v", got, wantRows)
	}
	if tl := ours.Trailer(); tl.Net != 1000-300+500+700+200+250 || tl.Rows != 7 || rec.Files[0].Net != tl.Net {
		t.Fatalf("trailer %+v, recorded net %d", tl, rec.Files[0].Net)
	}

	// The acquirer's export of the day's window, doctored: one amount
	// changed. The report names that RRN as an amount mismatch.
	from := rec.OpenedAt.Add(-time.Minute)
	acqRows, err := tr.sim.Settlement(from, *rec.ClosedAt)
	if err != nil {
		t.Fatal(err)
	}
	var acqFile bytes.Buffer
	if err := sim.WriteSettlementCSV(&acqFile, acqRows, from, *rec.ClosedAt); err != nil {
		t.Fatal(err)
	}
	// It runs on a standby, which does not record it: the active does.
	doctored, rrn := doctorAmount(t, acqFile.Bytes(), p1, ours)
	standby := adminapi.NewClient(tr.cl.Configs[(lead+1)%3].AdminAddr)
	bad, err := standby.Reconcile(ctx, day, "acquirer", doctored)
	if err != nil {
		t.Fatal(err)
	}
	if bad.Recorded {
		t.Fatal("a standby says it recorded a reconciliation")
	}
	if rec, err = admin.RecordReconciliation(ctx, day, bad); err != nil || len(rec.Reconciliations) != 1 || rec.Reconciliations[0].Reconciled {
		t.Fatalf("recorded %+v, %v: want the day marked not reconciled", rec.Reconciliations, err)
	}
	if bad.Reconciled || bad.Discrepancies == 0 || !strings.Contains(bad.ReportText, settle.KindAmountMismatch) || !strings.Contains(bad.ReportText, rrn) {
		t.Fatalf("doctored file: reconciled %v, %d discrepancies; the report must name %s as %s:\n%s",
			bad.Reconciled, bad.Discrepancies, rrn, settle.KindAmountMismatch, bad.ReportText)
	}
	good, err := admin.Reconcile(ctx, day, "acquirer", acqFile.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !good.Reconciled || good.Discrepancies != 0 || !good.Recorded {
		t.Fatalf("the acquirer's own file does not reconcile:\n%s", good.ReportText)
	}
	if rec, _ = admin.Day(ctx, day); len(rec.Reconciliations) != 1 || !rec.Reconciliations[0].Reconciled {
		t.Fatalf("day marked %+v, want reconciled", rec.Reconciliations)
	}

	// At any later time the same bytes: after the next day's business,
	// including a reversal of a purchase of the settled day, which stays
	// approved there and settles as a reversal row in the next day.
	r1.approved(linked("0400", 1000, p1))
	r1.approved(linked("0400", 1000, p1)) // a second reversal takes nothing more back
	r1.approved(purchase(120))
	tr.waitConverged()
	fetchEverywhere(t, tr, day, "acquirer.csv", rec.Files[0].CSVSHA256)

	// The next day settles the reversal once: one reversal row of -1000.
	next := cut.Opened
	if _, err := admin.Cutover(ctx, next); err != nil {
		t.Fatal(err)
	}
	var rec2 adminapi.Day
	poll(t, "the next day's file recorded", func() error {
		if rec2, err = admin.Day(ctx, next); err != nil || len(rec2.Files) != 1 {
			return fmt.Errorf("day %s: %+v %v", next, rec2, err)
		}
		return nil
	})
	f2, err := settle.ReadCSV(bytes.NewReader(fetchEverywhere(t, tr, next, "acquirer.csv", rec2.Files[0].CSVSHA256)))
	if err != nil {
		t.Fatal(err)
	}
	tl := f2.Trailer()
	if tl.Reversals != 1 || tl.ReversalAmount != 1000 || tl.Net != 120-1000 || tl.Rows != 2 {
		t.Fatalf("next day's trailer %+v: want one reversal row of 1000 and the purchase of 120", tl)
	}
	if row := f2.Rows[0]; row.Type != settle.TypeReversal || row.OriginalDay != day || row.Net != -1000 || row.OriginalRRN == "" {
		t.Fatalf("reversal row %+v", row)
	}
}

// fetchEverywhere fetches a settlement file from every node: the same
// bytes, whose SHA-256 is the one the log records.
func fetchEverywhere(t *testing.T, tr *trio, day, file, want string) []byte {
	t.Helper()
	acq, format, _ := strings.Cut(file, ".")
	var first []byte
	for i := range tr.cl.Nodes {
		var b []byte
		var sum string
		// A standby serves the file once it has applied the active's
		// record of its checksum (409 until then).
		poll(t, tr.id(i)+" to vouch for "+file, func() error {
			var err error
			b, sum, err = adminapi.NewClient(tr.cl.Configs[i].AdminAddr).SettlementFile(context.Background(), day, acq, format)
			if err != nil && !adminapi.IsNotYet(err) {
				t.Fatalf("%s: %v", tr.id(i), err)
			}
			return err
		})
		if sum != want || sha256hex(b) != want {
			t.Fatalf("%s: %s has SHA-256 %s (header %s), the log records %s", tr.id(i), file, sha256hex(b), sum, want)
		}
		if first != nil && !bytes.Equal(first, b) {
			t.Fatalf("%s serves other bytes of %s", tr.id(i), file)
		}
		first = b
	}
	return first
}

// doctorAmount adds 1 to the amount of the acquirer row of purchase p,
// found through our file's RRN.
func doctorAmount(t *testing.T, acqCSV []byte, p *wire.Message, ours *settle.File) ([]byte, string) {
	t.Helper()
	var rrn string
	for _, r := range ours.Rows {
		if r.TerminalID == p.TerminalID && r.STAN == p.STAN {
			rrn = r.RRN
		}
	}
	lines := strings.Split(string(acqCSV), "\n")
	changed := false
	for i, l := range lines {
		if strings.HasPrefix(l, rrn+",") {
			lines[i] = strings.Replace(l, ",1000,", ",1001,", 1)
			changed = lines[i] != l
		}
		// TRAILER,count,approved,reversed,net,from,to: keep it true, so
		// that only the one row differs.
		if f := strings.Split(l, ","); f[0] == "TRAILER" && len(f) == 7 {
			f[2], f[4] = plusOne(t, f[2]), plusOne(t, f[4])
			lines[i] = strings.Join(f, ",")
		}
	}
	if !changed {
		t.Fatalf("no acquirer row for RRN %q with amount 1000 in:\n%s", rrn, acqCSV)
	}
	return []byte(strings.Join(lines, "\n")), rrn
}

func plusOne(t *testing.T, s string) string {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("trailer field %q: %v", s, err)
	}
	return strconv.FormatInt(v+1, 10)
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
