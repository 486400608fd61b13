package systemtest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillgate/tillgate/check"
	"github.com/tillgate/tillgate/failover"
	"github.com/tillgate/tillgate/node/adminapi"
	"github.com/tillgate/tillgate/wire"
)

// The card data of TestProcessNoCardDataAtRest: chip-and-PIN cards whose
// every form is distinctive in a scan (FAULTS.md I8).
var (
	atRestCards = []struct{ pan, track2 string }{
		{"4761739001013378", "4761739001013378=30122011234500000000"},
		{"5413330089604178", "5413330089604178D30122010000098700000"},
	}
	atRestPINs = [][]byte{
		{0x04, 0x4C, 0xA1, 0xB7, 0xE9, 0x3F, 0x5D, 0x26},
		{0x12, 0xAB, 0xCD, 0xEF, 0x98, 0x76, 0x54, 0x3E},
	}
	// ICC: an application cryptogram (9F26) and ATC (9F36).
	atRestICC = []byte{0x9F, 0x26, 0x08, 0xC0, 0xFF, 0xEE, 0x12, 0x34, 0xAB, 0xCD, 0x99, 0x9F, 0x36, 0x02, 0x00, 0x42}
)

// atRestSecrets are what the scan looks for: the PANs, the track 2
// images, the PIN blocks and the chip data, as hex in both cases
// (check.ScanFiles adds the raw bytes of hex and the BCD of digits).
func atRestSecrets() []string {
	var out []string
	for _, c := range atRestCards {
		out = append(out, c.pan, c.track2)
	}
	for _, b := range append(append([][]byte(nil), atRestPINs...), atRestICC) {
		h := hex.EncodeToString(b)
		out = append(out, strings.ToUpper(h), h)
	}
	return out
}

// cardRegister is a chip-and-PIN register on the failover client: its
// queue (with its key) and its log are files in the cluster's dir.
type cardRegister struct {
	c    *failover.Client
	cfg  failover.Config
	tid  string
	card int
	logf *os.File
	stan atomic.Int64
}

func openCardRegister(t *testing.T, dir string, n int, nodes []string, tune func(*failover.Config)) *cardRegister {
	t.Helper()
	r := &cardRegister{tid: fmt.Sprintf("F%07d", 700+n), card: n % len(atRestCards)}
	cfg := failover.DefaultConfig()
	cfg.Nodes = nodes
	cfg.AttemptTimeout, cfg.Deadline = 2*time.Second, 5*time.Second
	cfg.ReversalBackoffMin, cfg.ReversalBackoffMax = 200*time.Millisecond, time.Second
	cfg.ReversalQueue = filepath.Join(dir, r.tid+".queue")
	cfg.QueueKeyFile = filepath.Join(dir, r.tid+".key")
	if _, err := os.Stat(cfg.QueueKeyFile); errors.Is(err, os.ErrNotExist) {
		if err := failover.WriteQueueKeyFile(cfg.QueueKeyFile); err != nil {
			t.Fatal(err)
		}
	}
	// The register's own log, at debug, is scanned too.
	logf, err := os.OpenFile(filepath.Join(dir, r.tid+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	r.logf = logf
	cfg.Logger = slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// STANs of a reopened register go on after the last one used.
	r.stan.Store(int64(n) * 100000)
	cfg.NewSTAN = func() string { return fmt.Sprintf("%06d", r.stan.Add(1)%1000000) }
	if tune != nil {
		tune(&cfg)
	}
	r.cfg = cfg
	if r.c, err = failover.Open(cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *cardRegister) close() {
	r.c.Close()
	r.logf.Close()
}

// msg is a request of the register's card: track 2 only (a swipe or
// the chip's track 2 equivalent) or DE2 with expiry, PIN block and ICC.
func (r *cardRegister) msg(mti string, amount int64, track bool) *wire.Message {
	now := time.Now().UTC()
	c := atRestCards[r.card]
	m := &wire.Message{
		MTI: mti, ProcCode: "000000", Amount: amount, HasAmount: true,
		TransmissionTime: now.Format("0102150405"), STAN: r.cfg.NewSTAN(),
		LocalTime: now.Format("150405"), LocalDate: now.Format("0102"),
		POSEntryMode: "051", POSCondition: "00", TerminalID: r.tid,
		MerchantID: failoverMerchant, Currency: "978",
		PINBlock: atRestPINs[r.card], ICC: atRestICC,
	}
	if track {
		m.Track2 = c.track2
	} else {
		m.PAN, m.Expiry = c.pan, "3012"
	}
	return m
}

// cardTraffic counts what the registers got.
type cardTraffic struct {
	approved, standIns, unknown, completions, advices, reversals atomic.Int64
}

// cycle is one round of a register's business: a chip-and-PIN purchase
// (track 2, PIN, ICC), a pre-auth and its completion (0220 with DE2), an
// offline-approved 0120, and the reversal of every third purchase.
func (r *cardRegister) cycle(i int, tr *cardTraffic) {
	do := func(m *wire.Message) *wire.Message {
		resp, err := r.c.Do(context.Background(), m)
		switch {
		case errors.Is(err, failover.ErrOutcomeUnknown):
			tr.unknown.Add(1)
			return nil
		case err != nil:
			return nil
		}
		if resp.ResponseCode == wire.RCApproved {
			tr.approved.Add(1)
			if strings.HasPrefix(resp.AuthCode, "S") {
				tr.standIns.Add(1)
			}
		}
		return resp
	}
	buy := r.msg(wire.MTIFinancial, int64(1000+i%50), true)
	if resp := do(buy); resp != nil && resp.ResponseCode == wire.RCApproved && i%3 == 0 {
		rev := failover.Reversal(buy, r.cfg.NewSTAN(), wire.TransmissionTime(time.Now()))
		if do(&rev) != nil {
			tr.reversals.Add(1)
		}
	}
	pre := r.msg(wire.MTIAuth, 5000, false)
	if resp := do(pre); resp != nil && resp.ResponseCode == wire.RCApproved {
		comp := r.msg(wire.MTIFinancialAdvice, 4200, false)
		comp.OriginalData = wire.OriginalDataFor(pre.MTI, pre.STAN, pre.TransmissionTime)
		if do(comp) != nil {
			tr.completions.Add(1)
		}
	}
	adv := r.msg(wire.MTIAuthAdvice, 3000, false)
	if do(adv) != nil {
		tr.advices.Add(1)
	}
}

// TestProcessNoCardDataAtRest (FAULTS.md I8, issue 14 item 5): chip-and-PIN
// traffic (DE35, DE52, DE55; DE2 on pre-auths, completions and 0120s) runs
// through 3 node processes at debug log level while the active is
// SIGKILLed with acquirer answers slowed (requests in flight, INTENTs
// open), the acquirer goes down (stand-ins, the nodes' SAF advices) and
// comes back, a register's advices stay queued on its disk (its node
// SIGSTOPped under them), the day is closed with its settlement file, a
// snapshot and a backup are taken. Then every file under the test's dir
// (Raft segments and state, snapshots, the backup, settlement files, node
// and acqsim logs and data, register queues and logs) is scanned for the
// PANs, track 2 images, PIN blocks and chip data in every form: no hit.
// The scan is first shown a file that holds them. Last, the queued
// advices are delivered from their sealed entries.
func TestProcessNoCardDataAtRest(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	p := startProcClusterLogging(t, func(cfg map[string]any) {
		cfg["acquirer"].(map[string]any)["timeout"] = "500ms"
		cfg["saf"] = map[string]any{"min_backoff": "100ms", "max_backoff": "1s", "poll": "200ms"}
		cfg["stand_in"] = map[string]any{"enabled": true, "floor_limit": 100000}
	}, "debug")
	regDir := filepath.Join(p.dir, "registers")
	if err := os.MkdirAll(regDir, 0o700); err != nil {
		t.Fatal(err)
	}
	first := p.leader(60 * time.Second)

	var regs []*cardRegister
	for i := range 6 {
		regs = append(regs, openCardRegister(t, regDir, i, []string{p.reg[i%3], p.reg[(i+1)%3], p.reg[(i+2)%3]}, nil))
	}
	tr := &cardTraffic{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				r.cycle(i, tr)
			}
		}()
	}
	stopTraffic := func() {
		stop()
		wg.Wait()
		for _, r := range regs {
			r.close()
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stopTraffic()
		}
	}()
	atLeast := func(what string, c *atomic.Int64, n int64) {
		t.Helper()
		waitFor(t, what, func() bool { return c.Load() >= n })
	}
	atLeast("approvals", &tr.approved, 30)
	atLeast("completions", &tr.completions, 5)
	atLeast("advices", &tr.advices, 5)

	// A takeover with requests in flight and INTENTs open: acquirer
	// answers slowed, the active SIGKILLed.
	p.acqsimFault("--slow", "300ms")
	before := tr.approved.Load()
	p.kill(first)
	next := p.leader(60 * time.Second)
	p.acqsimFault()
	atLeast("approvals after the takeover", &tr.approved, before+20)
	p.start(first)

	// The acquirer down: stand-ins, owed to it as the nodes' SAF advices;
	// back up, the active delivers them.
	acqUp := p.injected("acquirer-down", "acqsim")
	p.acqsimFault("--down")
	atLeast("stand-ins", &tr.standIns, 5)
	p.acqsimFault()
	acqUp()
	waitFor(t, "the active's SAF queue to drain", func() bool { return p.safDepth(p.leader(60*time.Second)) == 0 })
	stopTraffic()
	t.Logf("traffic: %d approved (%d stand-ins), %d unknown, %d completions, %d advices, %d reversals; active %s then %s",
		tr.approved.Load(), tr.standIns.Load(), tr.unknown.Load(), tr.completions.Load(), tr.advices.Load(),
		tr.reversals.Load(), p.ids[first], p.ids[next])

	// A register whose advices stay queued on its disk: its only node
	// (a standby) stops under them.
	leader := p.leader(60 * time.Second)
	standby := (leader + 1) % 3
	stuck := openCardRegister(t, regDir, 9, []string{p.reg[standby]}, func(c *failover.Config) {
		c.Deadline, c.ReversalBackoffMin, c.ReversalBackoffMax = 3*time.Second, time.Hour, time.Hour
	})
	pre := stuck.msg(wire.MTIAuth, 5000, false)
	if resp, err := stuck.c.Do(context.Background(), pre); err != nil || resp.ResponseCode != wire.RCApproved {
		t.Fatalf("the stuck register's pre-auth: %v %+v", err, resp)
	}
	comp := stuck.msg(wire.MTIFinancialAdvice, 4000, false)
	comp.OriginalData = wire.OriginalDataFor(pre.MTI, pre.STAN, pre.TransmissionTime)
	adv := stuck.msg(wire.MTIAuthAdvice, 2500, false)
	if err := p.procs[standby].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*wire.Message{comp, adv} {
		if _, err := stuck.c.Do(context.Background(), m); !errors.Is(err, failover.ErrOutcomeUnknown) {
			t.Fatalf("%s to a stopped node: %v, want an unknown outcome", m.MTI, err)
		}
	}
	stuck.close()
	if err := p.procs[standby].Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if n := queueEntries(t, stuck.cfg.ReversalQueue); n != 2 {
		t.Fatalf("the stuck register's queue holds %d entries, want its 0220 and 0120", n)
	}

	// The day closed, with its settlement file; a snapshot and a backup.
	admins := adminClients(p.admin)
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := check.WaitQuiet(dctx, admins, 100*time.Millisecond); err != nil {
		t.Fatalf("cluster did not settle: %v", err)
	}
	closed, err := adminapi.CloseDay(dctx, admins, adminapi.DayCloseOptions{Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if closed.Day.Status != "settled" || len(closed.Files) == 0 {
		t.Fatalf("day close: %+v", closed)
	}
	leader = p.leader(60 * time.Second)
	if _, err := admins[leader].Snapshot(dctx); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	backup := filepath.Join(p.dir, "backups", "state.backup")
	if err := os.MkdirAll(filepath.Dir(backup), 0o700); err != nil {
		t.Fatal(err)
	}
	bf, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admins[leader].Backup(dctx, bf); err != nil {
		t.Fatalf("backup: %v", err)
	}
	bf.Close()
	p.stopAll()

	// The scan finds card data where it is: a file with the frames a
	// register sends.
	secrets := atRestSecrets()
	control := filepath.Join(t.TempDir(), "frames")
	codec := wire.NewCodec(wire.DefaultDialect())
	var frames []byte
	for _, m := range []*wire.Message{regs[0].msg("0200", 100, true), regs[1].msg("0100", 100, false)} {
		if frames, err = codec.PackFrame(frames, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(control, frames, 0o600); err != nil {
		t.Fatal(err)
	}
	if v := check.ScanFiles([]string{control}, secrets); len(v) < 5 {
		t.Fatalf("the scan found %d secrets in the frames (%v): it cannot be trusted", len(v), v)
	}

	// Every file at rest: none.
	kinds := filesByKind(t, p.dir)
	for _, k := range []string{"raft log", "state", "snapshot", "backup", "settlement", "node log", "acqsim", "register queue", "register log"} {
		if kinds[k] == 0 {
			t.Errorf("no %s file to scan: %v", k, kinds)
		}
	}
	for _, v := range check.ScanFiles([]string{p.dir}, secrets) {
		t.Errorf("%s: %s", v.ID, v.Detail)
	}
	t.Logf("scanned %v", kinds)
	if t.Failed() {
		return
	}

	// The queued advices go out from their sealed entries: the 0120 with
	// its card, the 0220 named by its original.
	for i := range p.ids {
		p.start(i)
	}
	p.leader(60 * time.Second)
	again := openCardRegister(t, regDir, 9, p.reg, nil)
	defer again.close()
	waitFor(t, "the stuck register's advices to be delivered", func() bool {
		return again.c.Stats().ReversalsAcked == 2
	})
	for _, m := range []*wire.Message{comp, adv} {
		txn, err := admins[p.leader(60*time.Second)].Txn(dctx, m.Key())
		if err != nil || txn.Status != "approved" || txn.Last4 != atRestCards[stuck.card].pan[12:] {
			t.Errorf("%s %s delivered as %+v (%v)", m.MTI, m.Key(), txn, err)
		}
	}
}

// queueEntries counts the entries of a register's queue file.
func queueEntries(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("reversals")); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}

// filesByKind counts the files under dir by what they are, so that the
// test knows the scan saw each kind.
func filesByKind(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		name := d.Name()
		switch {
		case strings.HasPrefix(rel, "registers/") && strings.HasSuffix(name, ".queue"):
			out["register queue"]++
		case strings.HasPrefix(rel, "registers/") && strings.HasSuffix(name, ".log"):
			out["register log"]++
		case strings.HasPrefix(rel, "backups/"):
			out["backup"]++
		case strings.HasPrefix(rel, "acqsim"):
			out["acqsim"]++
		case strings.HasPrefix(name, "node") && strings.HasSuffix(name, ".log"):
			out["node log"]++
		case strings.Contains(rel, "snapshot"):
			out["snapshot"]++
		case strings.Contains(rel, "settle") || strings.HasSuffix(name, ".csv"):
			out["settlement"]++
		case strings.Contains(rel, "raft") || strings.Contains(name, ".seg"):
			out["raft log"]++
		case strings.HasSuffix(name, ".db"):
			out["state"]++
		default:
			out["other"]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
