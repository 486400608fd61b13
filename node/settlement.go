package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/tillgate/tillgate/settle"
	"github.com/tillgate/tillgate/store"
)

// A settled day's files are rendered from the store alone: its records are
// frozen (store/day.go), so the same day renders to the same bytes on any
// node at any later time. The active writes them to SettlementDir and
// records their checksums in the log; any node serves them again through
// the admin API and checks them against the log.

// rendered is one acquirer's file of a day, in both formats.
type rendered struct {
	file      *settle.File
	csv, json []byte
}

func (r *rendered) dayFile(at int64) store.DayFile {
	return store.DayFile{Acquirer: r.file.Acquirer, CSVSHA256: sha(r.csv), JSONSHA256: sha(r.json),
		Rows: int64(len(r.file.Rows)), Net: r.file.Trailer().Net, At: at}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// renderDay renders the files of a settled day: one per configured
// acquirer and per acquirer its transactions name.
func (n *Node) renderDay(d *store.Day) (map[string]*rendered, error) {
	if d.Status != store.DaySettled {
		return nil, fmt.Errorf("%w: day %s is %v", store.ErrDayBusy, d.Day, d.Status)
	}
	files := map[string]*settle.File{}
	file := func(acq string) *settle.File {
		f := files[acq]
		if f == nil {
			f = &settle.File{Day: d.Day, Acquirer: acq, OpenedAt: d.OpenedAt, ClosedAt: d.ClosedAt, Index: d.SettledIndex}
			files[acq] = f
		}
		return f
	}
	for _, name := range n.upNames {
		file(name)
	}
	_, err := n.store.EachInDay(d.Day, func(dt store.DayTxn) error {
		if row, acq, ok := settlementRow(dt); ok {
			f := file(acq)
			f.Rows = append(f.Rows, row)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*rendered, len(files))
	for acq, f := range files {
		r := &rendered{file: f}
		// Sized up front: growing buffers of a million rows costs more
		// than writing them (CSV ~190, JSON ~420 bytes a row).
		var c, j bytes.Buffer
		c.Grow(256 + 200*len(f.Rows))
		j.Grow(256 + 440*len(f.Rows))
		if err := settle.WriteCSV(&c, f); err != nil {
			return nil, fmt.Errorf("node: settlement %s %s: %w", d.Day, acq, err)
		}
		if err := settle.WriteJSON(&j, f); err != nil {
			return nil, fmt.Errorf("node: settlement %s %s: %w", d.Day, acq, err)
		}
		r.csv, r.json = c.Bytes(), j.Bytes()
		out[acq] = r
	}
	return out, nil
}

// settlementRow is what the settlement file says of one transaction of the
// day, and the acquirer whose file it goes in. Approved money movements are
// listed approved; reversed ones, and unknown ones (whose reversal is owed
// and will be delivered), reversed. A reversal is a row of its own only
// when it took back an approval of a day settled before it (the first such
// reversal of that approval: store.DayTxn.TakesBack): the approval stayed
// in its day's file, so the reversal takes it back in this one.
func settlementRow(dt store.DayTxn) (settle.Row, string, bool) {
	t, o := dt.Txn, dt.Original
	r := settle.Row{
		Seq: dt.Seq, RRN: t.RRN, TerminalID: t.TerminalID, MerchantID: t.MerchantID,
		STAN: t.STAN, TransmissionTime: t.TransmissionTime, AcqSTAN: t.AcqSTAN, AcqTime: t.AcqTime,
		MTI: t.MTI, ProcCode: t.ProcCode, Amount: t.Amount, Currency: t.Currency,
		RC: t.RC, AuthCode: t.AuthCode, StandIn: t.StandIn, At: t.CreatedAt,
	}
	if o != nil {
		r.OriginalRRN = o.RRN
	}
	if t.Type == store.TypeReversal {
		if !dt.TakesBack || o == nil {
			return r, "", false
		}
		sign, ok := moneySign(o.Type)
		if !ok {
			return r, "", false
		}
		r.Type, r.Status, r.OriginalDay, r.Net = settle.TypeReversal, settle.StatusApproved, o.Day, -sign*t.Amount
		acq := t.Acquirer
		if acq == "" {
			acq = o.Acquirer
		}
		return r, acq, true
	}
	sign, ok := moneySign(t.Type)
	if !ok {
		return r, "", false
	}
	r.Type = t.Type.String()
	switch t.Status {
	case store.StatusApproved:
		r.Status, r.Net = settle.StatusApproved, sign*t.Amount
	case store.StatusReversed, store.StatusUnknown:
		r.Status = settle.StatusReversed
	default:
		return r, "", false
	}
	return r, t.Acquirer, true
}

// moneySign is +1 for the types that debit the card, -1 for refunds; false
// for types that settle nothing.
func moneySign(t store.TxnType) (int64, bool) {
	switch t {
	case store.TypePurchase, store.TypeCashback, store.TypeCompletion:
		return 1, true
	case store.TypeRefund:
		return -1, true
	}
	return 0, false
}

// writeMissingFiles makes sure every file of a settled day is on this
// node's disk and its checksums in the log: a new active after a crash
// during generation renders the same bytes again.
func (n *Node) writeMissingFiles(ctx context.Context, day string) {
	d, err := n.store.Day(day)
	if err != nil || d == nil || d.Status != store.DaySettled {
		return
	}
	var missing []string
	for _, acq := range n.settlementAcquirers(d) {
		_, recorded := d.File(acq)
		if !recorded || !n.filesOnDisk(day, acq) {
			missing = append(missing, acq)
		}
	}
	if len(missing) == 0 {
		return
	}
	files, err := n.renderDay(d)
	if err != nil {
		n.log.Error("settlement: cannot render the day", "day", day, keyErr, err)
		n.metrics.settlementErrors.Inc()
		return
	}
	for _, acq := range missing {
		if err := n.writeFile(ctx, d, files[acq]); err != nil && ctx.Err() == nil {
			n.log.Error("settlement: file not written", "day", day, "acquirer", acq, keyErr, err)
			n.metrics.settlementErrors.Inc()
		}
	}
}

// settlementAcquirers are the acquirers with a file for d: the configured
// ones and any already recorded.
func (n *Node) settlementAcquirers(d *store.Day) []string {
	out := slices.Clone(n.upNames)
	for _, f := range d.Files {
		if !slices.Contains(out, f.Acquirer) {
			out = append(out, f.Acquirer)
		}
	}
	return out
}

// writeFile checks a rendered file against the checksum in the log (or
// records it there first), then writes it.
func (n *Node) writeFile(ctx context.Context, d *store.Day, r *rendered) error {
	if r == nil {
		return errors.New("not rendered")
	}
	df := r.dayFile(n.now().UnixNano())
	if old, ok := d.File(df.Acquirer); ok {
		if old.CSVSHA256 != df.CSVSHA256 || old.JSONSHA256 != df.JSONSHA256 {
			return fmt.Errorf("%w: rendered csv %s, the log has %s", store.ErrMismatch, df.CSVSHA256, old.CSVSHA256)
		}
	} else {
		// Recorded before it is written: a crash in between leaves a
		// checksum that the next active's rendering must (and will) match.
		n.failpoint(FailpointRendered)
		if _, err := n.applyDay(ctx, store.DayFileCmd(d.Day, df)); err != nil {
			return err
		}
		n.failpoint(FailpointRecorded)
		n.metrics.settlementFiles.Inc()
		n.log.Info("settlement file recorded", "day", d.Day, "acquirer", df.Acquirer, "rows", df.Rows, "net", df.Net, "sha256", df.CSVSHA256)
	}
	dir := filepath.Join(n.settlementDir(), d.Day)
	if err := writeAtomic(dir, df.Acquirer+".csv", r.csv); err != nil {
		return err
	}
	return writeAtomic(dir, df.Acquirer+".json", r.json)
}

func (n *Node) settlementDir() string {
	if n.cfg.BusinessDay.SettlementDir != "" {
		return n.cfg.BusinessDay.SettlementDir
	}
	return filepath.Join(n.cfg.DataDir, "settlement")
}

func (n *Node) filesOnDisk(day, acq string) bool {
	for _, ext := range []string{".csv", ".json"} {
		if _, err := os.Stat(filepath.Join(n.settlementDir(), day, acq+ext)); err != nil {
			return false
		}
	}
	return true
}

// writeAtomic writes dir/name through a synced temporary file and a
// rename, so that a reader never sees half a file.
func writeAtomic(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: settlement dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return fmt.Errorf("node: settlement file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("node: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("node: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("node: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("node: settlement file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
