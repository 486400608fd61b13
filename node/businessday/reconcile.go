package businessday

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/tillgate/tillgate/settle"
	"github.com/tillgate/tillgate/store"
)

// Reconciled is one reconciliation's outcome, with the report
// (settle.Report) as JSON and as text.
type Reconciled struct {
	Recon      store.Reconciliation
	JSON, Text []byte
}

// Reconcile matches a settled day's file of acquirer against the
// acquirer's own (acqFile, its CSV export) and the registers' batches that
// hold the day's transactions, and writes the report beside the day's
// files. Any node can: a settled day is the same everywhere, and a day of a
// million rows is seconds of CPU and a gigabyte of memory better spent on a
// standby than on the active. RecordReconciliation then records the outcome
// (on the active).
func (s *Service) Reconcile(ctx context.Context, day, acquirer string, acqFile []byte) (*Reconciled, error) {
	d, err := s.o.State.Day(day)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fmt.Errorf("%w: %s", store.ErrNoDay, day)
	}
	ours, batchKeys, err := s.acquirerRows(ctx, d, acquirer)
	if err != nil {
		return nil, err
	}
	theirs, err := settle.ReadAcquirerCSV(bytes.NewReader(acqFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadAcquirerFile, err)
	}
	theirs.Acquirer = acquirer
	batches, err := s.batchesOf(batchKeys)
	if err != nil {
		return nil, err
	}
	rep := settle.Reconcile(settle.Input{Ours: ours, Theirs: theirs, Batches: batches, Elsewhere: s.dayOfRRN})
	out := &Reconciled{}
	var j, t bytes.Buffer
	if err := rep.WriteJSON(&j); err != nil {
		return nil, err
	}
	if err := rep.WriteText(&t); err != nil {
		return nil, err
	}
	out.JSON, out.Text = j.Bytes(), t.Bytes()
	out.Recon = store.Reconciliation{Acquirer: acquirer, Reconciled: rep.Reconciled, ReportSHA256: sha256Hex(out.JSON), At: s.Now().UnixNano()}
	for _, x := range rep.Discrepancies {
		if x.Blocking {
			out.Recon.Discrepancies++
		}
	}
	dir := filepath.Join(s.SettlementDir(), day)
	if err := writeAtomic(dir, acquirer+".reconciliation.json", out.JSON); err != nil {
		return nil, err
	}
	if err := writeAtomic(dir, acquirer+".reconciliation.txt", out.Text); err != nil {
		return nil, err
	}
	s.log.Info("business day reconciled", "day", day, "acquirer", acquirer, "reconciled", rep.Reconciled,
		"discrepancies", out.Recon.Discrepancies, "matched", rep.Matched)
	return out, nil
}

// RecordReconciliation records a reconciliation's outcome in the log.
// Active only.
func (s *Service) RecordReconciliation(ctx context.Context, day string, rec store.Reconciliation) error {
	_, err := s.apply(ctx, store.DayReconciledCmd(day, rec))
	return err
}

// batchKey names one register batch.
type batchKey struct {
	terminal string
	number   uint64
}

// acquirerRows is acquirer's file of a settled day with its rows in
// memory, as matching needs them, and the register batches that hold the
// day's transactions routed to it, from the same walk of the day.
func (s *Service) acquirerRows(ctx context.Context, d *store.Day, acquirer string) (*settle.File, []batchKey, error) {
	if d.Status != store.DaySettled {
		return nil, nil, fmt.Errorf("%w: day %s is %v", store.ErrDayBusy, d.Day, d.Status)
	}
	f := fileHead(d, acquirer)
	if rec, ok := d.File(acquirer); ok {
		f.Rows = make([]settle.Row, 0, rec.Rows)
	}
	known := map[string]bool{}
	for _, a := range s.acquirersOf(d) {
		known[a] = true
	}
	seen := map[batchKey]bool{}
	var keys []batchKey
	err := s.o.State.EachInDay(ctx, d.Day, func(dt store.DayTxn) error {
		t := dt.Txn
		if k := (batchKey{t.TerminalID, t.Batch}); t.Acquirer == acquirer && k.number > 0 && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		row, acq, ok := settlementRow(dt)
		if !ok {
			return nil
		}
		known[acq] = true
		if acq == acquirer {
			f.Rows = append(f.Rows, row)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if !known[acquirer] {
		return nil, nil, fmt.Errorf("%w: no acquirer %q (known: %v)", ErrUnknownAcquirer, acquirer, slices.Sorted(maps.Keys(known)))
	}
	return f, keys, nil
}

// Errors of Reconcile.
var (
	// ErrUnknownAcquirer: the day has no file of that acquirer.
	ErrUnknownAcquirer = errors.New("node: unknown acquirer")
	// ErrBadAcquirerFile: the acquirer's file could not be read.
	ErrBadAcquirerFile = errors.New("node: acquirer settlement file")
)

// batchesOf reads the batches named.
func (s *Service) batchesOf(keys []batchKey) ([]settle.Batch, error) {
	out := make([]settle.Batch, 0, len(keys))
	for _, k := range keys {
		b, ok, err := s.o.State.Batch(k.terminal, k.number)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, settle.Batch{Terminal: b.Terminal, Number: b.Number, Status: b.Status.String(),
				Register: b.Register, Ours: b.Ours, HasRegister: b.HasRegister})
		}
	}
	return out, nil
}

// dayOfRRN is the business day of the transaction with that RRN, if any.
func (s *Service) dayOfRRN(rrn string) (string, bool) {
	t, ok, err := s.o.State.ByRRN(rrn)
	if err != nil || !ok {
		return "", false
	}
	return t.Day, true
}
