package businessday

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/tillgate/tillgate/node/internal/logkey"
	"github.com/tillgate/tillgate/settle"
	"github.com/tillgate/tillgate/store"
)

// A settled day's files are rendered from the store alone: its records are
// frozen (store/day.go), so the same day renders to the same bytes on any
// node at any later time. The active writes them to SettlementDir and
// records their checksums in the log; any node serves them again through
// the admin API and checks them against the log.

// Rendered is one acquirer's file of a day, rendered to temporary files
// in both formats, with their checksums and trailer.
type Rendered struct {
	Acquirer          string
	CSVPath, JSONPath string
	CSVSHA, JSONSHA   string // hex SHA-256
	Trailer           settle.Trailer
}

func (r *Rendered) dayFile(at int64) store.DayFile {
	return store.DayFile{Acquirer: r.Acquirer, CSVSHA256: r.CSVSHA, JSONSHA256: r.JSONSHA,
		Rows: r.Trailer.Rows, Net: r.Trailer.Net, At: at}
}

// Remove deletes the temporary files (after a rename it finds none).
func (r *Rendered) Remove() {
	os.Remove(r.CSVPath)
	os.Remove(r.JSONPath)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// eachRow calls fn for every row of a settled day's files, with the
// acquirer whose file it goes in.
func (s *Service) eachRow(ctx context.Context, d *store.Day, fn func(acq string, r *settle.Row) error) error {
	if d.Status != store.DaySettled {
		return fmt.Errorf("%w: day %s is %v", store.ErrDayBusy, d.Day, d.Status)
	}
	return s.o.State.EachInDay(ctx, d.Day, func(dt store.DayTxn) error {
		if row, acq, ok := settlementRow(dt); ok {
			return fn(acq, &row)
		}
		return nil
	})
}

// fileHead is the File of d and acq without its rows.
func fileHead(d *store.Day, acq string) *settle.File {
	return &settle.File{Day: d.Day, Acquirer: acq, OpenedAt: d.OpenedAt, ClosedAt: d.ClosedAt, Index: d.SettledIndex}
}

// Render renders the files of a settled day into dir, one pair of
// temporary files per configured acquirer and per acquirer its
// transactions name (only that of acquirer only, if not ""), streaming:
// memory does not grow with the day. The caller renames or removes them.
func (s *Service) Render(ctx context.Context, d *store.Day, dir, only string) (map[string]*Rendered, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: settlement dir: %w", err)
	}
	g := &rendering{day: d, dir: dir, files: map[string]*fileOut{}}
	for _, name := range s.acquirersOf(d) {
		if only != "" && name != only {
			continue
		}
		if _, err := g.open(name); err != nil {
			g.remove()
			return nil, err
		}
	}
	err := s.eachRow(ctx, d, func(acq string, r *settle.Row) error {
		if only != "" && acq != only {
			return nil
		}
		o, err := g.open(acq)
		if err != nil {
			return err
		}
		return o.w.Add(r)
	})
	if err != nil {
		g.remove()
		return nil, fmt.Errorf("node: settlement %s: %w", d.Day, err)
	}
	return g.finish()
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
func (s *Service) writeMissingFiles(ctx context.Context, day string) {
	d, err := s.o.State.Day(day)
	if err != nil || d == nil || d.Status != store.DaySettled {
		return
	}
	missing := false
	for _, acq := range s.acquirersOf(d) {
		_, recorded := d.File(acq)
		missing = missing || !recorded || !s.filesOnDisk(day, acq)
	}
	if !missing {
		return
	}
	dir := filepath.Join(s.SettlementDir(), day)
	// A predecessor killed while rendering left its temporary files (one
	// pass runs at a time, so none of them is being written).
	if stale, _ := filepath.Glob(filepath.Join(dir, renderPrefix+"*")); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	files, err := s.Render(ctx, d, dir, "")
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("settlement: cannot render the day", "day", day, logkey.Err, err)
			s.metrics.settlementErrors.Inc()
		}
		return
	}
	for _, acq := range slices.Sorted(maps.Keys(files)) {
		r := files[acq]
		if err := s.keepFile(ctx, d, dir, r); err != nil && ctx.Err() == nil {
			s.log.Error("settlement: file not written", "day", day, "acquirer", acq, logkey.Err, err)
			s.metrics.settlementErrors.Inc()
		}
		r.Remove()
	}
}

// acquirersOf are the acquirers with a file for d: the configured ones and
// any already recorded.
func (s *Service) acquirersOf(d *store.Day) []string {
	out := slices.Clone(s.o.Acquirers)
	for _, f := range d.Files {
		if !slices.Contains(out, f.Acquirer) {
			out = append(out, f.Acquirer)
		}
	}
	return out
}

// keepFile checks a rendered file against the checksum in the log (or
// records it there first), then renames it into place.
func (s *Service) keepFile(ctx context.Context, d *store.Day, dir string, r *Rendered) error {
	df := r.dayFile(s.Now().UnixNano())
	if old, ok := d.File(df.Acquirer); ok {
		if old.CSVSHA256 != df.CSVSHA256 || old.JSONSHA256 != df.JSONSHA256 {
			return fmt.Errorf("%w: rendered csv %s, the log has %s", store.ErrMismatch, df.CSVSHA256, old.CSVSHA256)
		}
	} else {
		// Recorded before it is in place: a crash in between leaves a
		// checksum that the next active's rendering must (and will) match.
		s.failpoint(FailpointRendered)
		if _, err := s.apply(ctx, store.DayFileCmd(d.Day, df)); err != nil {
			return err
		}
		s.failpoint(FailpointRecorded)
		s.metrics.settlementFiles.Inc()
		s.log.Info("settlement file recorded", "day", d.Day, "acquirer", df.Acquirer, "rows", df.Rows, "net", df.Net, "sha256", df.CSVSHA256)
	}
	if err := os.Rename(r.CSVPath, filepath.Join(dir, df.Acquirer+".csv")); err != nil {
		return fmt.Errorf("node: settlement file: %w", err)
	}
	if err := os.Rename(r.JSONPath, filepath.Join(dir, df.Acquirer+".json")); err != nil {
		return fmt.Errorf("node: settlement file: %w", err)
	}
	syncDir(dir)
	return nil
}

func (s *Service) filesOnDisk(day, acq string) bool {
	for _, ext := range []string{".csv", ".json"} {
		if _, err := os.Stat(filepath.Join(s.SettlementDir(), day, acq+ext)); err != nil {
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
	syncDir(dir)
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
